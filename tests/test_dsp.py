"""Tests for binauralgrad.dsp: parity with the original warp, geometry, gradients, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from binauralgrad import dsp
from binauralgrad.dsp import SPEED_OF_SOUND, ear_distances, geometric_warp, mouth_position

FIXTURES = Path(__file__).parent / "fixtures"
IDENTITY = (0.0, 0.0, 0.0, 1.0)


def constant_positions(xyz, quaternion=IDENTITY, frames=4, dtype=torch.float64):
    """(1, 7, frames) positions holding one pose."""
    row = torch.tensor([*xyz, *quaternion], dtype=dtype)
    return row[None, :, None].expand(1, 7, frames).contiguous()


def impulse(frames=4, at=800, dtype=torch.float64):
    mono = torch.zeros(1, 1, 400 * frames, dtype=dtype)
    mono[..., at] = 1.0
    return mono


def centroid(signal):
    """Centre of mass in samples of each channel of (1, C, T); linear interpolation keeps it."""
    time_axis = torch.arange(signal.shape[-1], dtype=signal.dtype)
    return (signal[0] * time_axis).sum(-1) / signal[0].sum(-1)


def distance_to(mouth, ear):
    return float(np.linalg.norm(np.asarray(mouth) - np.asarray(ear)))


def test_parity_with_original_fixture():
    data = np.load(FIXTURES / "geowarp_small.npz")
    mono = torch.from_numpy(data["mono"])[None, None]
    positions = torch.from_numpy(data["positions"]).T[None]
    warped = geometric_warp(mono, positions)
    assert warped.shape == (1, 2, mono.shape[-1]) and warped.dtype == torch.float32
    assert np.abs(warped[0].numpy() - data["warped"]).max() < 1e-5


def test_source_straight_ahead_delays_both_ears_equally():
    positions = constant_positions((1.0, 0.0, 0.0))
    mouth = (1.0 + 0.09, 0.0, -0.20)  # identity orientation: offset added as is
    expected = distance_to(mouth, dsp.LEFT_EAR) / SPEED_OF_SOUND * 48000
    left, right = centroid(geometric_warp(impulse(), positions))
    assert left == pytest.approx(800 + expected, abs=1e-6)
    assert right == pytest.approx(800 + expected, abs=1e-6)


def test_source_on_the_right_reaches_right_ear_first():
    positions = constant_positions((0.0, 1.5, 0.0))
    mouth = (0.09, 1.5, -0.20)
    left, right = centroid(geometric_warp(impulse(), positions))
    assert right < left
    assert left - 800 == pytest.approx(distance_to(mouth, dsp.LEFT_EAR) / 343 * 48000, abs=1e-6)
    assert right - 800 == pytest.approx(distance_to(mouth, dsp.RIGHT_EAR) / 343 * 48000, abs=1e-6)


def test_spreading_gain_is_one_over_each_ears_distance():
    positions = constant_positions((0.0, 1.5, 0.0), dtype=torch.float32)
    mouth = (0.09, 1.5, -0.20)
    gain = dsp.spreading_gain(positions, 1600)
    assert gain.shape == (1, 2, 1600) and gain.dtype == torch.float32
    assert float(gain[0, 0, 700]) == pytest.approx(1 / distance_to(mouth, dsp.LEFT_EAR))
    assert float(gain[0, 1, 700]) == pytest.approx(1 / distance_to(mouth, dsp.RIGHT_EAR))
    assert bool((gain[0, 1] > gain[0, 0]).all())  # the near (right) ear is louder
    touching = constant_positions((-0.09, -0.08, -0.02), dtype=torch.float32)  # mouth at an ear
    assert float(dsp.spreading_gain(touching, 1600).max()) == pytest.approx(
        1 / dsp.HEAD_CLEARANCE)
    with pytest.raises(ValueError, match="upsample"):
        dsp.spreading_gain(positions, 1601)


def test_mouth_at_the_ear_warps_to_itself():
    at_left_ear = np.subtract(dsp.LEFT_EAR, dsp.MOUTH_OFFSET)
    positions = constant_positions(at_left_ear, dtype=torch.float32)
    mono = torch.randn(1, 1, 1600, generator=torch.Generator().manual_seed(0))
    warped = geometric_warp(mono, positions)
    torch.testing.assert_close(warped[:, 0], mono[:, 0], atol=1e-6, rtol=0)


def test_turned_talker_rotates_the_mouth_offset_by_the_inverse():
    # 90 degrees about z: x -> y. The inverse maps the forward mouth offset x -> -y.
    half = np.sqrt(0.5)
    positions = constant_positions((1.0, 0.0, 0.0), quaternion=(0.0, 0.0, half, half), frames=1)
    mouth = mouth_position(positions)[0, :, 0]
    torch.testing.assert_close(mouth, torch.tensor([1.0, -0.09, -0.20], dtype=torch.float64))


def test_zero_quaternion_is_treated_like_the_original():
    zero = constant_positions((1.0, 0.3, 0.1), quaternion=(0.0, 0.0, 0.0, 0.0), frames=1)
    ones = constant_positions((1.0, 0.3, 0.1), quaternion=(1.0, 1.0, 1.0, 1.0), frames=1)
    torch.testing.assert_close(mouth_position(zero), mouth_position(ones))
    assert torch.isfinite(ear_distances(zero)).all()


def test_row_geometry_computes_each_part_once_with_the_functions_bits():
    from binauralgrad.models.head_filter import ear_directions
    from binauralgrad.view import view_features

    positions = torch.randn(2, 7, 5, generator=torch.Generator().manual_seed(3))
    geometry = dsp.RowGeometry(positions)
    assert geometry.mouth is geometry.mouth  # computed once, then reused
    assert dsp.RowGeometry.of(geometry) is geometry
    for part, function in ((geometry.mouth, mouth_position), (geometry.ear_distances,
                           ear_distances), (geometry.spreading, dsp.frame_spreading)):
        assert torch.equal(part, function(positions)) and torch.equal(part, function(geometry))
    for view in ("rows", "ears"):
        assert torch.equal(view_features(geometry, view), view_features(positions, view))
    assert torch.equal(ear_directions(geometry), ear_directions(positions))
    with pytest.raises(ValueError):
        dsp.RowGeometry(torch.full((1, 7, 2), float("nan")))


def test_batched_matches_single_and_keeps_dtype():
    generator = torch.Generator().manual_seed(1)
    mono = torch.randn(3, 1, 2000, generator=generator, dtype=torch.float64)
    positions = torch.randn(3, 7, 5, generator=generator, dtype=torch.float64)
    batched = geometric_warp(mono, positions)
    assert batched.dtype == torch.float64
    for item in range(3):
        single = geometric_warp(mono[item : item + 1], positions[item : item + 1])
        torch.testing.assert_close(batched[item : item + 1], single)
    assert ear_distances(positions).shape == (3, 2, 5)


def test_gradcheck_float64():
    generator = torch.Generator().manual_seed(3)
    mono = torch.randn(2, 1, 800, generator=generator, dtype=torch.float64, requires_grad=True)
    positions = torch.randn(2, 7, 2, generator=generator, dtype=torch.float64) * 0.3
    positions[:, 0] += 0.8  # a talker in front, so that most samples read inside the signal
    positions.requires_grad_(True)
    # Every entry of the Jacobian for the (few) positions; a random projection for both inputs.
    warp_of_positions = lambda rows: geometric_warp(mono.detach(), rows)  # noqa: E731
    assert torch.autograd.gradcheck(warp_of_positions, (positions,), eps=1e-7, atol=1e-5)
    assert torch.autograd.gradcheck(
        geometric_warp, (mono, positions), eps=1e-7, atol=1e-5, fast_mode=True
    )


@pytest.mark.parametrize(
    "mono_shape, positions_shape, message",
    [
        ((1, 1, 1600), (1, 7, 3), "do not match"),  # T != 400 K
        ((2, 1, 1600), (1, 7, 4), "do not match"),  # batch
        ((1, 1600), (1, 7, 4), "mono must be"),  # rank
        ((1, 2, 1600), (1, 7, 4), "mono must be"),  # channels
        ((1, 1, 1600), (7, 4), "positions must be"),
        ((1, 1, 1600), (1, 4, 7), "positions must be"),  # rows-first by mistake
    ],
)
def test_bad_shapes_raise(mono_shape, positions_shape, message):
    with pytest.raises(ValueError, match=message):
        geometric_warp(torch.zeros(mono_shape), torch.ones(positions_shape))


def test_non_finite_inputs_raise():
    positions = torch.ones(1, 7, 4)
    positions[0, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="positions contains NaN"):
        geometric_warp(torch.zeros(1, 1, 1600), positions)
    mono = torch.zeros(1, 1, 1600)
    mono[..., 5] = float("inf")
    with pytest.raises(ValueError, match="mono contains NaN"):
        geometric_warp(mono, torch.ones(1, 7, 4))
    with pytest.raises(ValueError, match="floating-point"):
        geometric_warp(torch.zeros(1, 1, 1600), torch.ones(1, 7, 4, dtype=torch.long))


def test_segment_with_context_matches_whole_signal():
    generator = torch.Generator().manual_seed(4)
    mono = torch.randn(1, 1, 8000, generator=generator)
    positions = torch.randn(1, 7, 20, generator=generator) * 0.2
    positions[:, 0] += 1.5
    whole = geometric_warp(mono, positions)
    first, last = 7, 12  # frames of the segment
    warpfield = dsp.warp_field(ear_distances(positions[..., first:last]), 400 * (last - first))
    times = dsp.read_times(warpfield, start=400 * first, num_samples=8000)
    context_start = int(times.min().floor())
    segment = dsp.interpolate_at(
        mono[..., context_start : 400 * last].expand(-1, 2, -1), times, signal_start=context_start
    )
    torch.testing.assert_close(segment, whole[..., 400 * first : 400 * last], atol=0, rtol=0)


def test_half_precision_is_computed_in_float32():
    generator = torch.Generator().manual_seed(5)
    mono = torch.randn(1, 1, 4000, generator=generator)
    positions = torch.randn(1, 7, 10, generator=generator) * 0.3
    positions[:, 0] += 1.0
    warped = geometric_warp(mono.to(torch.bfloat16), positions.to(torch.bfloat16))
    assert warped.dtype == torch.bfloat16
    reference = geometric_warp(
        mono.to(torch.bfloat16).float(), positions.to(torch.bfloat16).float()
    )
    torch.testing.assert_close(warped, reference.to(torch.bfloat16))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    data = np.load(FIXTURES / "geowarp_small.npz")
    mono = torch.from_numpy(data["mono"])[None, None]
    positions = torch.from_numpy(data["positions"]).T[None]
    warped = geometric_warp(mono.cuda(), positions.cuda())
    assert warped.device.type == "cuda"
    assert np.abs(warped[0].cpu().numpy() - data["warped"]).max() < 1e-5
    with pytest.raises(ValueError, match="mono is on"):
        geometric_warp(mono, positions.cuda())


def test_blockwise_warp_is_the_one_pass_warp_bit_for_bit(monkeypatch):
    generator = torch.Generator().manual_seed(5)
    mono = torch.randn(2, 1, 400 * 11, generator=generator, requires_grad=True)
    positions = torch.randn(2, 7, 11, generator=generator) * 0.2
    positions[:, 0] += 3.0  # a delay of several hundred samples: reads cross block edges
    one_pass = dsp.time_warp(mono.expand(-1, 2, -1),
                             dsp.warp_field(ear_distances(positions), 400 * 11))
    monkeypatch.setattr(dsp, "WARP_BLOCK_FRAMES", 3)  # blocks of 3, 3, 3 and 2 frames
    blockwise = geometric_warp(mono, positions)
    assert torch.equal(blockwise, one_pass)
    grad_one_pass, = torch.autograd.grad(one_pass.square().sum(), mono)
    grad_blockwise, = torch.autograd.grad(blockwise.square().sum(), mono)
    # The same terms, accumulated block by block: equal up to the order of float additions.
    torch.testing.assert_close(grad_blockwise, grad_one_pass, rtol=1e-6, atol=1e-6)


def test_frame_values_upsampled_in_any_range_have_the_whole_inputs_bits():
    from torch.nn import functional as F

    frames, size = 13, 400
    values = torch.rand(2, 3, frames, generator=torch.Generator().manual_seed(0))
    whole = dsp.upsample_frames(values, 0, frames * size, frame_samples=size,
                                total_frames=frames)
    interpolated = F.interpolate(values, scale_factor=size, mode="linear", align_corners=False)
    # torch's source positions are float32 (about 1e-6 off at the 13th frame), ours exact.
    torch.testing.assert_close(whole, interpolated, atol=1e-6, rtol=0)
    rng = np.random.default_rng(0)
    for _ in range(60):  # ranges of a stream's pushes, held frames only, the end known or not
        first = int(rng.integers(0, frames * size - 1))
        last = int(rng.integers(first + 1, min(frames * size, first + 2000) + 1))
        offset = max(0, (first - size // 2) // size)
        known = None if last <= (frames - 1) * size + size // 2 else frames
        part = dsp.upsample_frames(values[..., offset:], first, last, frame_samples=size,
                                   frame_offset=offset, total_frames=known)
        assert torch.equal(part, whole[..., first:last])
    assert dsp.upsample_frames(values, 800, 800, frame_samples=size).shape == (2, 3, 0)
    with pytest.raises(ValueError, match="need frames 2..4, but frames 3..12 are held"):
        dsp.upsample_frames(values[..., 3:], 1000, 1500, frame_samples=size, frame_offset=3)
