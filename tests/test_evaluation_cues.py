"""Tests of the interaural cues: known delays and level differences, silence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.metrics import (
    compute_metrics,
    ild_error,
    ild_track,
    itd_error,
    itd_track,
)

RATE = SAMPLE_RATE


def noise(samples: int, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(samples).astype(np.float32)


def delayed_pair(delay: float, samples: int = 48000, seed: int = 0) -> np.ndarray:
    """(2, T) white noise, the right channel lagging the left by `delay` (fractional) samples."""
    left = noise(samples, seed)
    frequencies = np.fft.rfftfreq(samples)
    right = np.fft.irfft(np.fft.rfft(left) * np.exp(-2j * np.pi * frequencies * delay), n=samples)
    return np.stack([left, right.astype(np.float32)])


@pytest.mark.parametrize("delay", [7, -7, 0, 30])
def test_a_known_delay_is_recovered_within_one_sample(delay):
    track = itd_track(delayed_pair(delay))
    recovered = track.values[track.active] * RATE / 1e6
    assert track.active.all()
    assert torch.all((recovered - delay).abs() < 1.0)


def test_a_fractional_delay_is_refined_below_one_sample():
    track = itd_track(delayed_pair(3.4))
    assert abs(float(track.values.median()) * RATE / 1e6 - 3.4) < 0.5


def test_swapped_ears_give_twice_the_delay_as_error():
    binaural = delayed_pair(7)
    error = itd_error(binaural[::-1].copy(), binaural)
    assert error == pytest.approx(14 / RATE * 1e6, abs=1e6 / RATE)


def test_a_louder_left_ear_gives_the_level_difference_in_every_band():
    binaural = delayed_pair(0) * np.array([[2.0], [1.0]], dtype=np.float32)
    track = ild_track(binaural)
    assert track.values.shape == (1, 8, track.times_s.shape[0])
    assert torch.allclose(track.values, torch.full_like(track.values, 20 * np.log10(2)), atol=1e-3)
    assert ild_error(
        binaural, binaural * np.array([[0.5], [1.0]], dtype=np.float32)
    ) == pytest.approx(20 * np.log10(2), abs=1e-3)


def test_identical_inputs_have_zero_cue_errors():
    binaural = delayed_pair(5)
    assert itd_error(binaural, binaural.copy()) == 0.0
    assert ild_error(binaural, binaural.copy()) == 0.0
    metrics = compute_metrics(binaural, binaural.copy(), metrics=["itd_error", "ild_error"])
    assert metrics == {"itd_error": 0.0, "ild_error": 0.0}


def test_quiet_frames_are_inactive_and_ignored():
    binaural = delayed_pair(7)
    binaural[:, :24000] *= 1e-3  # first half 60 dB down
    track = itd_track(binaural)
    quiet = track.times_s < 0.45
    assert not track.active[0, quiet].any() and track.active[0, track.times_s > 0.55].all()
    assert itd_error(delayed_pair(7), binaural) > itd_error(binaural, binaural) == 0.0


def test_batches_give_one_track_per_item():
    batch = np.stack([delayed_pair(4), delayed_pair(-9, seed=1)])
    track = itd_track(torch.from_numpy(batch))
    medians = track.values.median(dim=-1).values * RATE / 1e6
    assert track.values.shape == track.level_db.shape == (2, track.times_s.shape[0])
    assert torch.allclose(medians, torch.tensor([4.0, -9.0]), atol=0.5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="2 channels"):
        itd_track(np.zeros((3, 4800), dtype=np.float32))
    with pytest.raises(ValueError, match="shorter than one"):
        ild_track(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(ValueError, match="silent"):
        itd_error(delayed_pair(1), np.zeros((2, 48000), dtype=np.float32))
    with pytest.raises(ValueError, match="hop_s"):
        itd_track(delayed_pair(1), hop_s=0.0)


@pytest.mark.parametrize(("phat_beta", "robust"), [(0.5, True), (1.0, False)])
def test_partial_whitening_keeps_the_itd_of_band_limited_sound_under_noise(phat_beta, robust):
    # Speech has little energy above 4 kHz; full PHAT lets faint noise there vote as loudly.
    rng = np.random.default_rng(3)
    low = np.fft.irfft(
        np.fft.rfft(rng.standard_normal(48000)) * (np.fft.rfftfreq(48000, 1 / RATE) < 4000)
    )
    frequencies = np.fft.rfftfreq(48000)
    right = np.fft.irfft(np.fft.rfft(low) * np.exp(-2j * np.pi * frequencies * 10), n=48000)
    clean = np.stack([low, right]).astype(np.float32)
    floor = 10 ** (-40 / 20) * clean.std() * rng.standard_normal(clean.shape).astype(np.float32)
    error = itd_error(clean + floor, clean, phat_beta=phat_beta)
    assert (error < 20.0) == robust, error


def test_long_signals_are_processed_in_blocks_of_frames_with_the_same_result(monkeypatch):
    import binauralgrad.evaluation.metrics.cues as cues

    binaural = delayed_pair(5)
    whole = (itd_track(binaural), ild_track(binaural))
    monkeypatch.setattr(cues, "_BLOCK_FRAMES", 7)
    for expected, blocked in zip(whole, (itd_track(binaural), ild_track(binaural)), strict=True):
        assert torch.allclose(blocked.values, expected.values, atol=1e-4)
        assert torch.equal(blocked.active, expected.active)
