"""The examples a user follows run as written (on a tiny randomly initialised pipeline)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import make_tiny_pipeline, speech_like

from binauralgrad import positions
from binauralgrad.io.audio import read_wav
from binauralgrad.io.positions import read_positions

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def model(tmp_path) -> str:
    make_tiny_pipeline().save_pretrained(tmp_path / "model")
    return str(tmp_path / "model")


def test_render_your_recording_writes_audio_rows_and_a_picture(tmp_path, model, capsys):
    render = load_example("render_your_recording")
    soundfile.write(str(tmp_path / "talk.ogg"), speech_like(22050), 22050)  # 1 s
    out = tmp_path / "talk_binaural.wav"
    assert render.main([str(tmp_path / "talk.ogg"), str(out), "--model", model,
                        "--circle", "1.2", "--period", "4", "--direction",
                        "counterclockwise"]) == 0
    assert read_wav(out, channels=2).shape == (2, 48000)
    np.testing.assert_array_equal(
        read_positions(out.with_suffix(".positions.txt")),
        positions.circle(48000, radius_m=1.2, period_s=4, direction="counterclockwise"))
    picture = out.with_suffix(".png").read_bytes()
    assert picture.startswith(b"\x89PNG") and len(picture) > 10_000
    assert "path: Circle(radius_m=1.2" in capsys.readouterr().out


# Example scripts: the first render test keeps one in the default suite.
@pytest.mark.slow
def test_render_your_recording_takes_a_waypoint_file_and_refuses_bad_ones(tmp_path, model,
                                                                         capsys):
    render = load_example("render_your_recording")
    soundfile.write(str(tmp_path / "talk.wav"), speech_like(4800), 48000)
    # A walk squeezed into 0.1 s of audio is a run: the walking limit is lifted.
    walk = {"times_s": [0, 0.05, 0.1], "positions": [[1, -1], [1.5, 0], [1, 1]],
            "max_speed_m_s": None}
    (tmp_path / "walk.json").write_text(json.dumps(walk))
    out = tmp_path / "out.flac"
    assert render.main([str(tmp_path / "talk.wav"), str(out), "--model", model,
                        "--path", str(tmp_path / "walk.json")]) == 0
    assert soundfile.info(str(out)).channels == 2 and out.with_suffix(".png").is_file()
    walk["times_s"] = [0, 0.05, 0.08]  # ends before the audio does
    (tmp_path / "walk.json").write_text(json.dumps(walk))
    with pytest.raises(SystemExit):
        render.main([str(tmp_path / "talk.wav"), str(tmp_path / "again.wav"), "--model", model,
                     "--path", str(tmp_path / "walk.json")])
    assert "the path ends at 0.08 s" in capsys.readouterr().err


# Example scripts: the first render test keeps one in the default suite.
@pytest.mark.slow
def test_synthesize_then_evaluate_scores_a_test_set(tmp_path, model, dataset_dir, capsys):
    load_example("synthesize").main(["--model", model, "--testset",
                                     str(dataset_dir / "testset"), "--output-dir",
                                     str(tmp_path / "out"), "--device", "cpu"])
    written = sorted(path.name for path in (tmp_path / "out").glob("*.wav"))
    assert written == ["subject1.wav", "validation_sequence.wav"]
    load_example("evaluate").main([str(tmp_path / "out"), str(dataset_dir / "testset"),
                                   "--json", str(tmp_path / "scores.json")])
    assert "Wave L2" in capsys.readouterr().out
    assert "overall" in json.loads((tmp_path / "scores.json").read_text())


# Example scripts: the first render test keeps one in the default suite.
@pytest.mark.slow
def test_learning_curve_lowers_the_fixed_noise_loss(capsys):
    losses = load_example("learning_curve").main(["--steps", "40", "--clip-length", "4000"])
    assert "40 steps in" in capsys.readouterr().out
    assert losses["after"] < 0.9 * losses["before"]  # it learns (2.13 -> 1.80), not only runs


# Example scripts: the first render test keeps one in the default suite.
@pytest.mark.slow
def test_compare_recipes_trains_variants_and_scores_each_temperature(tmp_path, dataset_dir,
                                                                     capsys):
    compare = load_example("compare_recipes")
    assert compare.main([
        "--data-dir", str(dataset_dir / "trainset"), "--validation-dir",
        str(dataset_dir / "testset"), "--output-dir", str(tmp_path / "runs"),
        "--max-steps", "2", "--model-config", "tiny", "--batch-size", "2", "--clip-length", "4000",
        "--validation-clip-length", "4000", "--variants", "paper", "warp prior + envelope",
        "learned head", "--temperatures", "1", "0"]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| paper") or
            line.startswith("| warp prior") or line.startswith("| learned head")]
    assert len(rows) == 7 and all("| 2 |" in row for row in rows)
    assert "| learned head: its learned head alone |" in table
    # The true direct sound's row scores a copy of the validation split against the original:
    # the split against itself scores zero on every metric of stage one (which has no ITD).
    assert compare.main([
        "--data-dir", str(dataset_dir / "trainset"), "--validation-dir",
        str(dataset_dir / "testset"), "--output-dir", str(tmp_path / "runs"),
        "--validation-clip-length", "4000", "--variants", "warp prior + envelope",
        "--temperatures", "0", "--score-only", "--direct-dir", str(dataset_dir / "testset")]) == 0
    direct = next(line for line in capsys.readouterr().out.splitlines()
                  if line.startswith("| the true head's direct sound"))
    assert direct.endswith("| 0.000 | 0.000 | 0.000 | 0.000 | nan |")


def test_simulator_bounds_scores_every_system_on_a_simulated_set(dataset_dir, tmp_path, capsys):
    bounds = load_example("simulator_bounds")
    assert bounds.main([str(dataset_dir), "--no-pesq", "--output", str(tmp_path / "b.md"),
                        "--write-direct", str(tmp_path / "direct")]) == 0
    table = capsys.readouterr().out
    for system in ("geometric warp", "attenuated warp", "direct sound", "another room",
                   "true room, another tail"):
        assert f"| {system}" in table
    assert "PESQ" not in table and (tmp_path / "b.md").read_text().strip() == table.strip()
    # The direct sound's copy of the split: the same scenes, the direct sound as the reference.
    for scene in sorted((dataset_dir / "testset").iterdir()):
        copy = tmp_path / "direct" / scene.name
        assert (copy / "tx_positions.txt").read_text() == \
            (scene / "tx_positions.txt").read_text()
        direct, reference = (soundfile.read(folder / "binaural.wav")[0]
                             for folder in (copy, scene))
        assert direct.shape == reference.shape and 0 < np.abs(direct - reference).max()


# Example scripts: the first render test keeps one in the default suite.
@pytest.mark.slow
def test_stream_feeds_blocks_reports_whether_it_kept_up_and_writes_the_offline_audio(
        tmp_path, model, capsys):
    import torch

    from binauralgrad import BinauralGradPipeline
    from binauralgrad.io.audio import limit_peak

    soundfile.write(str(tmp_path / "talk.wav"), speech_like(9000), 48000, subtype="FLOAT")
    out = tmp_path / "talk_stream.wav"
    assert load_example("stream").main([str(tmp_path / "talk.wav"), str(out), "--model", model,
                                        "--circle", "1.2", "--period", "2", "--block-ms", "7",
                                        "--no-pace"]) == 0
    report = capsys.readouterr().out
    assert "latency 1.6 ms (algorithmic) + 7 ms (block)" in report
    assert any(verdict in report for verdict in ("kept up with real time", "served a live source",
                                                 "fell behind real time"))
    pipe = BinauralGradPipeline.from_pretrained(model)
    offline = pipe(speech_like(9000), positions.circle(9000, radius_m=1.2, period_s=2),
                   generator=torch.Generator().manual_seed(0), progress=False).audio
    np.testing.assert_allclose(read_wav(out, channels=2), limit_peak(offline.numpy())[0],
                               atol=1e-6)


def test_steps_quality_scores_every_step_count_beside_the_prior_and_the_warp(tmp_path,
                                                                             dataset_dir, capsys):
    from conftest import TINY, randomize

    from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig

    priors = {"prior": "attenuated_warp", "prior_std": "envelope", "prior_scale": 0.5}
    stages = [randomize(BinauralDenoiser(make(**TINY, **priors)), seed) for seed, make in
              enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    BinauralGradPipeline(*stages).save_pretrained(tmp_path / "model")
    result = load_example("steps_quality").main([
        str(tmp_path / "model"), str(dataset_dir / "testset"), "--steps", "6", "2", "1",
        "--seconds", "0.5", "--json", str(tmp_path / "steps.json")])
    printed = capsys.readouterr().out
    rows = ["BinauralGrad, 6 steps", "BinauralGrad, 2 steps", "BinauralGrad, 1 step",
            "Prior alone (the model's DSP prior)", "DSP (geometric warp)"]
    assert list(result["metrics"]) == rows and all(f"| {row} " in printed for row in rows)
    assert result["scenes"] == ["subject1", "validation_sequence"] and result["audio_s"] == 1.0
    assert set(result["metrics"][rows[0]]) >= {"wave_l2", "pesq", "itd_error", "ild_error"}
    assert all(result["seconds"][count] > 0 for count in ("6", "2", "1"))
    assert json.loads((tmp_path / "steps.json").read_text()) == json.loads(json.dumps(result))
    # The counts differ in their audio; the prior and the warp do not depend on them.
    assert result["metrics"][rows[0]]["wave_l2"] != result["metrics"][rows[2]]["wave_l2"]


def test_steps_quality_adopts_the_fewest_steps_within_a_tolerance(tmp_path, dataset_dir):
    from conftest import TINY, randomize

    from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig

    script = load_example("steps_quality")
    table = {script.step_label(count): {"wave_l2": wave, "pesq": pesq, "noise_floor": floor}
             for count, wave, pesq, floor in ((6, 1.0, 2.0, -10.0), (3, 1.015, 1.99, 0.0),
                                              (2, 1.03, 2.0, -10.0), (1, 1.0, 1.9, -10.0))}
    # PESQ counts the other way; the noise floor is a level, not an error.
    assert script.fewest_within(table, [6, 3, 2, 1], 2.0) == (3, pytest.approx(1.5))
    assert script.fewest_within(table, [6, 3, 2, 1], 6.0)[0] == 1
    assert script.fewest_within(table, [6, 3, 2, 1], 0.0) == (6, 0.0)

    stages = [randomize(BinauralDenoiser(make(**TINY)), seed) for seed, make in
              enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    BinauralGradPipeline(*stages).save_pretrained(tmp_path / "model")
    result = script.main([str(tmp_path / "model"), str(dataset_dir / "testset"), "--steps", "6",
                          "1", "--seconds", "0.25", "--adopt", "1e9"])
    saved = BinauralGradPipeline.from_pretrained(tmp_path / "model")
    assert result["adopted"] == saved.fast_steps == 1
    card = (tmp_path / "model" / "README.md").read_text()
    assert "samples with 1 reverse step a stage" in card and "| BinauralGrad, 6 steps" in card
    with pytest.raises(SystemExit):
        script.main(["some/hub-repo", str(dataset_dir / "testset"), "--adopt", "2"])
