"""Targets with a room's interaural level differences: each band's level difference scaled, the
band's energy over both ears and every bin's phase kept; and the head fitted to them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, randomize
from test_training_head_fit import HEAD_PRIOR, data_set

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.cli import main
from binauralgrad.evaluation.metrics import ild_track, itd_track
from binauralgrad.training.head_fit import fit_heads
from binauralgrad.training.level_cues import compress_interaural_levels


def noise_pair(delay: int = 0, gain: float = 0.5, length: int = 96000) -> torch.Tensor:
    """Left: white noise; right: the same, `delay` samples later and `gain` times as loud."""
    left = torch.from_numpy(np.random.default_rng(0).standard_normal(length).astype(np.float32))
    right = gain * torch.cat([torch.zeros(delay), left[: length - delay]])
    return torch.stack([left, right])


def mean_ild(binaural: torch.Tensor) -> float:
    track = ild_track(binaural)
    return float(track.values[track.active].mean())


def mean_level_difference(binaural: torch.Tensor) -> float:
    track = ild_track(binaural)
    return float(track.values[track.active].abs().mean())


def test_level_differences_scale_by_alpha_and_the_band_energy_stays():
    pair = noise_pair()  # 6.02 dB louder on the left in every band
    assert mean_ild(pair) == pytest.approx(6.02, abs=0.05)
    for alpha in (0.75, 0.5, 0.0):
        squeezed = compress_interaural_levels(pair, alpha)
        assert mean_ild(squeezed) == pytest.approx(6.02 * alpha, abs=0.05)
        inner = slice(4096, -4096)  # the STFT's first and last frames are partial
        assert float(squeezed[:, inner].square().sum()) == pytest.approx(
            float(pair[:, inner].square().sum()), rel=1e-3)
    assert torch.equal(compress_interaural_levels(pair, 1.0), pair)


def test_each_octave_band_may_have_its_own_factor():
    pair = noise_pair()
    factors = [1.0] * 5 + [0.0] * 3  # the bands from 4 kHz up made level-free
    squeezed = compress_interaural_levels(pair, factors)
    track = ild_track(squeezed)
    per_band = [float(track.values[0, band][track.active[0, band]].mean()) for band in range(8)]
    assert per_band[:4] == pytest.approx([6.02] * 4, abs=0.05)
    # The metric's 40 ms frames put their band edges a little off the 43 ms frames' own: the
    # 2 kHz band takes in some of the 4 kHz band's bins.
    assert per_band[4] == pytest.approx(6.02, abs=0.15)
    assert per_band[5:] == pytest.approx([0.0] * 3, abs=0.05)
    with pytest.raises(ValueError, match="one per octave band"):
        compress_interaural_levels(pair, [0.5] * 3)


def test_the_phases_and_so_the_time_difference_stay():
    pair = noise_pair(delay=10)  # the right ear 10 samples (208 us) late
    squeezed = compress_interaural_levels(pair, 0.3)
    for audio in (pair, squeezed):
        track = itd_track(audio)
        assert float(track.values[track.active].median()) == pytest.approx(10 / 0.048, abs=5)
    # Equal ears stay equal: no level difference to scale, nothing changes.
    same = noise_pair(gain=1.0)
    torch.testing.assert_close(compress_interaural_levels(same, 0.5), same, atol=1e-5, rtol=0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="alpha must be in"):
        compress_interaural_levels(noise_pair(), 1.5)
    with pytest.raises(ValueError, match=r"binaural must be \(2, T\)"):
        compress_interaural_levels(torch.zeros(3, 100), 0.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        fit_heads([], [], level_compression=-0.1)


def test_a_head_fitted_to_compressed_levels_has_smaller_level_differences(tmp_path):
    mono, rows, ears = data_set(tmp_path / "data", 24000, 4)
    stages = [randomize(BinauralDenoiser(make(**TINY, **HEAD_PRIOR)), seed)
              for seed, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    BinauralGradPipeline(*stages).save_pretrained(tmp_path / "pipe")
    heard = {}
    for alpha in ("1", "0.3"):
        assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                     str(tmp_path / "data"), "--output", str(tmp_path / alpha), "--keep", "1",
                     "--level-compression", alpha, "--quiet"]) == 0
        fitted = BinauralGradPipeline.from_pretrained(tmp_path / alpha)
        heard[alpha] = fitted.prior_alone(mono, rows, learned=True)
    reference = torch.from_numpy(ears)
    full = mean_level_difference(reference)
    assert full > 2.0  # dB: the head that made the data has level differences to scale
    assert mean_level_difference(heard["1"]) == pytest.approx(full, rel=0.02)
    assert mean_level_difference(heard["0.3"]) < 0.6 * full
    assert fitted.info["head_fit"]["level_compression"] == 0.3
    assert "scaled by 0.3" in (tmp_path / "0.3" / "README.md").read_text()
    bands = "1,1,1,1,1,0.3,0.3,0.3"
    assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "bands"), "--keep", "1",
                 "--level-compression", bands, "--quiet"]) == 0
    card = (tmp_path / "bands" / "README.md").read_text()
    assert "scaled by 1, 1, 1, 1, 1, 0.3, 0.3, 0.3 in the octave bands" in card
    with pytest.raises(SystemExit):  # argparse: a clear message, exit status 2
        main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
              str(tmp_path / "data"), "--output", str(tmp_path / "bad"),
              "--level-compression", "0.5,0.5"])
