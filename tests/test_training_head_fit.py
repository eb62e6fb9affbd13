"""The learned head in closed form: it finds a head that made the data, per stage, and refits a
saved pipeline through `binauralgrad fit-head`."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, moving_positions, randomize, speech_like

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig, dsp
from binauralgrad.cli import main
from binauralgrad.io import write_positions, write_wav
from binauralgrad.models.head_filter import HeadFilter, whole_directions, whole_heard
from binauralgrad.training.head_fit import HeadNormalEquations

TAPS, GAIN = 12, 0.4
HEAD_PRIOR = {"prior": "attenuated_warp", "prior_std": "envelope", "prior_scale": 0.5,
              "prior_gain": GAIN, "prior_head_taps": TAPS}


def scene(length: int, seed: int):
    """Mono (T,), rows (K, 7) and the ears a known head hears, times the prior's gain (2, T)."""
    mono = speech_like(length, seed)
    rows = moving_positions(length // 400)
    mono_t, rows_t = torch.from_numpy(mono)[None, None], torch.from_numpy(rows.T.copy())[None]
    head = randomize(HeadFilter(TAPS), 7, scale=0.3)
    with torch.no_grad():
        heard = whole_heard(head, dsp.geometric_warp(mono_t, rows_t),
                            dsp.spreading_gain(rows_t, length),
                            whole_directions(rows_t, length, 400))
    return mono, rows, GAIN * heard[0].numpy(), head


def data_set(root, length: int, seed: int):
    """One sequence of `scene` in the Binaural Speech layout under root/subject1."""
    mono, rows, ears, _ = scene(length, seed)
    folder = root / "subject1"
    folder.mkdir(parents=True)
    write_wav(folder / "mono.wav", mono[None])
    write_wav(folder / "binaural.wav", ears)
    write_positions(folder / "tx_positions.txt", rows)
    return mono, rows, ears


def test_the_normal_equations_find_the_head_that_made_the_ears():
    mono, rows, ears, head = scene(24000, 0)
    for stage in (1, 2):
        system = HeadNormalEquations(TAPS, stage, GAIN)
        system.add(mono, rows, ears, keep=1.0)
        assert system.equations == 24000
        assert system.explained(HeadFilter(TAPS).weight) < 0.99  # the DSP prior misses
        fitted = system.solve(ridge=1e-6)
        # Sums of float32 products had shares above 1 here (1.0018 on an AMD EPYC): the
        # residual is a small difference of large sums, and this one scene is ill-conditioned.
        assert 0.99999 < system.explained(fitted) <= 1.0
        assert system.explained(head.weight) > 0.99999
    # Half the samples, drawn at random, find the same head.
    half = HeadNormalEquations(TAPS, 2, GAIN)
    half.add(mono, rows, ears, keep=0.5, generator=torch.Generator().manual_seed(0))
    assert 11000 < half.equations < 13000
    assert system.explained(half.solve(ridge=1e-6)) > 0.99999


def test_the_ridge_pulls_towards_the_dsp_prior_and_bad_input_is_refused():
    mono, rows, ears, _ = scene(8000, 1)
    system = HeadNormalEquations(TAPS, 1, GAIN)
    with pytest.raises(ValueError, match="no equations"):
        system.solve()
    system.add(mono, rows, ears)
    impulse = HeadFilter(TAPS).weight.detach()
    distances = [float((system.solve(ridge) - impulse).norm()) for ridge in (1e-2, 1.0, 1e6)]
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 1e-3
    with pytest.raises(ValueError, match=r"binaural must be \(2, 8000\)"):
        system.add(mono, rows, ears[:, :-1])
    with pytest.raises(ValueError, match="keep must be in"):
        system.add(mono, rows, ears, keep=0)
    with pytest.raises(ValueError, match="stage must be 1 or 2"):
        HeadNormalEquations(TAPS, 3, GAIN)


def test_fit_head_refits_a_saved_pipeline_and_keeps_its_denoisers(tmp_path, capsys):
    mono, rows, ears = data_set(tmp_path / "data", 24000, 2)
    stages = [randomize(BinauralDenoiser(make(**TINY, **HEAD_PRIOR)), seed)
              for seed, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    pipe = BinauralGradPipeline(*stages, info={"evaluation": {"setting": "x", "table": "| |"}})
    pipe.save_pretrained(tmp_path / "pipe")

    assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "fitted"), "--keep", "1",
                 "--ridge", "1e-6"]) == 0
    assert "stage 2: the head explains" in capsys.readouterr().err
    fitted = BinauralGradPipeline.from_pretrained(tmp_path / "fitted")
    heard = fitted.prior_alone(mono, rows, learned=True)
    reference = torch.from_numpy(ears)
    assert float((heard - reference).square().sum() / reference.square().sum()) < 1e-4
    for before, after in ((pipe.stage_one, fitted.stage_one), (pipe.stage_two, fitted.stage_two)):
        for name, value in before.state_dict().items():
            if not name.startswith("learned_head"):
                torch.testing.assert_close(after.state_dict()[name], value, rtol=0, atol=0)
    assert "evaluation" not in fitted.info  # it measured the old heads
    assert fitted.info["head_fit"]["explained"]["stage_2"] > 0.9999
    card = (tmp_path / "fitted" / "README.md").read_text()
    assert "refit in closed form" in card and "Evaluation" not in card
    assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "fitted"), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    plain = BinauralGradPipeline(*[randomize(BinauralDenoiser(make(**TINY)), 0) for make in
                                   (DenoiserConfig.stage_one, DenoiserConfig.stage_two)])
    plain.save_pretrained(tmp_path / "plain")
    assert main(["fit-head", "--model", str(tmp_path / "plain"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "other"), "--quiet"]) == 2
    assert "has no learned head" in capsys.readouterr().err


def test_a_strength_below_one_mixes_the_fit_with_the_dsp_prior(tmp_path, capsys):
    data_set(tmp_path / "data", 24000, 2)
    stages = [randomize(BinauralDenoiser(make(**TINY, **HEAD_PRIOR)), seed)
              for seed, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    BinauralGradPipeline(*stages).save_pretrained(tmp_path / "pipe")
    heads = {}
    for strength in ("1", "0.3", "0"):
        assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                     str(tmp_path / "data"), "--output", str(tmp_path / strength), "--keep", "1",
                     "--strength", strength, "--quiet"]) == 0
        fitted = BinauralGradPipeline.from_pretrained(tmp_path / strength)
        heads[strength] = [stage.learned_head.weight.detach() for stage in fitted.stages]
    untrained = HeadFilter(TAPS).weight.detach()
    for full, mixed, none in zip(heads["1"], heads["0.3"], heads["0"], strict=True):
        assert torch.equal(none, untrained)
        torch.testing.assert_close(mixed, 0.3 * full + 0.7 * untrained, rtol=0, atol=1e-7)
    assert fitted.info["head_fit"]["strength"] == 0.0
    card = (tmp_path / "0.3" / "README.md").read_text()
    assert "used at strength 0.3 (`--strength`: 0.3 x the fit + 0.7 x the DSP prior's" in card
    assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "bad"),
                 "--strength", "1.5"]) == 2
    assert "--strength must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_fit_head_refits_one_exported_stage_and_records_the_fit_in_its_recipe(tmp_path):
    from binauralgrad.training.export import export_denoiser, read_training_info

    data_set(tmp_path / "data", 16000, 3)
    stage = randomize(BinauralDenoiser(DenoiserConfig.stage_two(**TINY, **HEAD_PRIOR)), 1)
    export_denoiser(stage, tmp_path / "denoiser", training={"stage": 2, "max_steps": 10})
    assert main(["fit-head", "--model", str(tmp_path / "denoiser"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "fitted"), "--quiet"]) == 0
    recipe = read_training_info(tmp_path / "fitted")
    assert recipe["max_steps"] == 10 and recipe["head_fit"]["ridge"] == 0.01
    assert "learned head refit in closed form" in (tmp_path / "fitted" / "README.md").read_text()
