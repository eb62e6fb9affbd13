"""The geometric time warp and the talker/listener geometry behind it (pure torch, batched)."""

from __future__ import annotations

from functools import cached_property, lru_cache

import torch
from torch import Tensor

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.inputs import check_positions  # noqa: F401  (part of this module's API)

SPEED_OF_SOUND = 343.0  # m/s, as in the original
WARP_BLOCK_FRAMES = 480  # position rows per block of `geometric_warp` (4 s of audio)
# Offsets measured on the capture rig (metres; x forward, y right, z up). The tracked point on the
# talker is not the mouth, and the listener's tracked origin is not between the ears.
MOUTH_OFFSET = (0.09, 0.0, -0.20)
LEFT_EAR = (0.0, -0.08, -0.22)
RIGHT_EAR = (0.0, 0.08, -0.22)
HEAD_CLEARANCE = 0.1  # metres: a mouth nearer an ear than this is tracking error, not 1/r

__all__ = [
    "SPEED_OF_SOUND",
    "MOUTH_OFFSET",
    "LEFT_EAR",
    "RIGHT_EAR",
    "check_positions",
    "normalized_quaternions",
    "RowGeometry",
    "rotate_inverse",
    "mouth_position",
    "talker_vector",
    "ear_positions",
    "ear_distances",
    "warp_field",
    "read_times",
    "interpolate_at",
    "frame_spreading",
    "upsample_frames",
    "time_warp",
    "geometric_warp",
]


def normalized_quaternions(quaternions: Tensor) -> Tensor:
    """Unit quaternions, scalar-last, with the original's fix for all-zero rows.

    A zero quaternion (padding in the original data) gets 1 added to each component before
    normalising, which is what the original did to keep SciPy from rejecting it.

    Args:
        quaternions: (..., 4) as `qx qy qz qw`.

    Returns:
        (..., 4) unit quaternions.
    """
    is_zero = (quaternions == 0).all(dim=-1, keepdim=True)
    quaternions = torch.where(is_zero, quaternions + 1, quaternions)
    return quaternions / torch.linalg.vector_norm(quaternions, dim=-1, keepdim=True)


def rotate_inverse(vectors: Tensor, quaternions: Tensor) -> Tensor:
    """Applies the inverse (transpose) of each quaternion's rotation to vectors.

    Same as SciPy's `Rotation.from_quat(q).apply(v, inverse=True)`: the inverse of a unit
    quaternion is its conjugate, so the vector part changes sign.

    Args:
        vectors: (..., 3).
        quaternions: (..., 4) unit quaternions, scalar-last; broadcast against `vectors`.

    Returns:
        (..., 3) rotated vectors.
    """
    axis = -quaternions[..., :3]
    scalar = quaternions[..., 3:]
    axis, vectors = torch.broadcast_tensors(axis, vectors)
    # Rodrigues in quaternion form: v + 2w (u x v) + 2 u x (u x v).
    cross = torch.linalg.cross(axis, vectors, dim=-1)
    return vectors + 2 * scalar * cross + 2 * torch.linalg.cross(axis, cross, dim=-1)


class RowGeometry:
    """The talker/listener geometry of (B, 7, K) position rows, each part computed once.

    The warp's distances, the spreading gain, a learned head's directions and the denoisers'
    view features all start from the same mouth position; a stream computes them all for each
    push's few rows, where the repeated small operations cost more than the arithmetic. The
    functions below (`mouth_position`, `ear_distances`, ...) are its parts for one use; a
    RowGeometry passed instead of rows reuses what was computed.
    """

    def __init__(self, positions: Tensor):
        check_positions(positions)
        self.positions = positions

    @classmethod
    def of(cls, rows: Tensor | RowGeometry) -> RowGeometry:
        """`rows` if it is a RowGeometry already, else the geometry of the rows."""
        return rows if isinstance(rows, RowGeometry) else cls(rows)

    @cached_property
    def quaternions(self) -> Tensor:
        """(B, K, 4) the rows' unit quaternions (`normalized_quaternions`)."""
        return normalized_quaternions(self.positions.transpose(1, 2)[..., 3:])

    def talker_vector(self, vector) -> Tensor:
        """See `talker_vector`."""
        vector = torch.tensor(vector, dtype=self.positions.dtype, device=self.positions.device)
        return rotate_inverse(vector, self.quaternions).transpose(1, 2)

    @cached_property
    def mouth(self) -> Tensor:
        """See `mouth_position`."""
        return self.positions[:, :3] + self.talker_vector(MOUTH_OFFSET)

    @cached_property
    def facing(self) -> Tensor:
        """(B, 3, K) the direction the talker faces, in the listener's frame."""
        return self.talker_vector((1.0, 0.0, 0.0))

    @cached_property
    def ears(self) -> Tensor:
        """(2, 3) the listener's ears (`ear_positions`) in the rows' dtype and device."""
        return ear_positions(dtype=self.positions.dtype, device=self.positions.device)

    @cached_property
    def ear_distances(self) -> Tensor:
        """See `ear_distances`."""
        displacement = self.mouth[:, None] - self.ears[None, :, :, None]  # (B, 2, 3, K)
        return torch.sum(displacement**2, dim=2) ** 0.5

    @cached_property
    def spreading(self) -> Tensor:
        """See `frame_spreading`."""
        return 1.0 / self.ear_distances.float().clamp(min=HEAD_CLEARANCE)

    @cached_property
    def head_direction(self) -> tuple[Tensor, Tensor]:
        """See `binauralgrad.view.head_direction`."""
        offset = self.mouth - self.ears.mean(dim=0)[None, :, None]
        distance = offset.norm(dim=1, keepdim=True).clamp(min=HEAD_CLEARANCE)
        return offset / distance, distance


def mouth_position(positions: Tensor | RowGeometry) -> Tensor:
    """The talker's mouth in the listener's frame: tracked point + rotated mouth offset.

    Args:
        positions: (B, 7, K) rows `x y z qx qy qz qw` (or their `RowGeometry`).

    Returns:
        (B, 3, K) mouth coordinates in metres.
    """
    return RowGeometry.of(positions).mouth


def talker_vector(positions: Tensor | RowGeometry, vector) -> Tensor:
    """A vector of the talker's frame (x out of the face) in the listener's frame, (B, 3, K):
    rotated as the mouth offset is; (1, 0, 0) is the direction the talker faces."""
    return RowGeometry.of(positions).talker_vector(vector)


def ear_positions(*, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """The listener's ears, (2, 3): left then right, in metres."""
    return torch.tensor([LEFT_EAR, RIGHT_EAR], dtype=dtype, device=device)


def ear_distances(positions: Tensor | RowGeometry) -> Tensor:
    """Distance from the talker's mouth to each of the listener's ears.

    Args:
        positions: (B, 7, K) rows `x y z qx qy qz qw` (or their `RowGeometry`).

    Returns:
        (B, 2, K) distances in metres: left ear, right ear.
    """
    return RowGeometry.of(positions).ear_distances


def spreading_gain(positions: Tensor, num_samples: int) -> Tensor:
    """Each ear's spherical-spreading gain 1 / r (r in metres), per sample, interpolated linearly
    between the rows' centres (`upsample_frames`).

    Args:
        positions: (B, 7, K) rows `x y z qx qy qz qw`.
        num_samples: T, a multiple of K.

    Returns:
        (B, 2, T) float32: left ear, right ear.
    """
    frames = positions.shape[-1]
    if frames == 0 or num_samples % frames:
        raise ValueError(f"cannot upsample {frames} rows to {num_samples} samples")
    return upsample_frames(frame_spreading(positions), 0, num_samples,
                           frame_samples=num_samples // frames, total_frames=frames)


def frame_spreading(positions: Tensor | RowGeometry) -> Tensor:
    """Each ear's 1 / r per position row: (B, 7, K) -> (B, 2, K) float32."""
    return RowGeometry.of(positions).spreading


def upsample_frames(values: Tensor, first: int, last: int, *, frame_samples: int = FRAME_SAMPLES,
                    frame_offset: int = 0, total_frames: int | None = None) -> Tensor:
    """Per-frame values linearly interpolated between frame centres, for samples first .. last - 1.

    F.interpolate(mode="linear", align_corners=False)'s values (to 3e-7) from exact per-sample
    weights, so a stream that knows only some frames gets the whole input's bits.

    Args:
        values: (B, C, n) the values of frames frame_offset .. frame_offset + n - 1.
        first, last: absolute sample range; every frame it reads must be held.
        frame_samples: samples per frame.
        total_frames: the input's frame count (the last frame holds its value to the end), or
            None while it is not known (samples past the last frame's centre then need the next).

    Returns:
        (B, C, last - first) float32.
    """
    if last <= first:
        return values.new_zeros(*values.shape[:-1], 0, dtype=torch.float32)
    frame = first // frame_samples
    if frame >= 1:  # past the first frame's centre: the weights repeat from frame to frame
        lower, weight, complement = _frame_weights(first - frame * frame_samples, last - first,
                                                   frame_samples, values.device)
        low_frame = frame - 1  # that of the table's first sample
        lowest, highest = low_frame + int(lower[0]), low_frame + int(lower[-1]) + 1
        lower = lower + (low_frame - frame_offset)  # the indices into `values`
        upper = lower + 1
        if total_frames is not None and highest > total_frames - 1:
            upper = upper.clamp(max=total_frames - 1 - frame_offset)
            highest = total_frames - 1
    else:
        times = torch.arange(first, last, dtype=torch.int64, device=values.device)
        lower, weight = _interpolation(times, frame_samples)
        complement = 1.0 - weight
        before = lower < 0  # before the first centre: the first frame's value alone
        lower = lower.clamp(min=0)
        upper = torch.where(before, lower, lower + 1)
        if total_frames is not None:
            upper = upper.clamp(max=total_frames - 1)
        lowest, highest = int(lower[0]), int(upper[-1])
        lower, upper = lower - frame_offset, upper - frame_offset
    if lowest < frame_offset or highest >= frame_offset + values.shape[-1]:
        raise ValueError(f"samples {first}..{last - 1} need frames {lowest}..{highest}, but "
                         f"frames {frame_offset}..{frame_offset + values.shape[-1] - 1} are held")
    values = values.float()
    return complement * values.index_select(-1, lower) + weight * values.index_select(-1, upper)


def _interpolation(times: Tensor, frame_samples: int) -> tuple[Tensor, Tensor]:
    """The lower frame of each sample and its weight on the frame after (0 before the first
    frame's centre, where the lower frame is -1)."""
    # Source position (t + 0.5) / F - 0.5, kept as the exact fraction (2t + 1 - F) / 2F.
    numerator = 2 * times + 1 - frame_samples
    lower = torch.div(numerator, 2 * frame_samples, rounding_mode="floor")
    weight = (numerator - 2 * frame_samples * lower).double() / (2 * frame_samples)
    return lower, torch.where(lower < 0, 0.0, weight).float()


@lru_cache(maxsize=64)
def _frame_weights(phase: int, count: int, frame_samples: int,
                   device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """`_interpolation` of samples F + phase .. F + phase + count - 1 (F = frame_samples), with
    1 - weight: a sample k frames later has the lower frame k more and the same weights, so a
    stream's pushes read these instead of computing them each time."""
    times = torch.arange(frame_samples + phase, frame_samples + phase + count, device=device)
    lower, weight = _interpolation(times, frame_samples)
    return lower, weight, 1.0 - weight


def warp_field(distances: Tensor, num_samples: int, *, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Per-sample shift (in samples, negative = delay) from per-frame distances.

    Args:
        distances: (B, C, K) metres at the position rate.
        num_samples: T, a multiple of K; each distance is held for T / K samples (nearest).
        sample_rate: audio rate in Hz.

    Returns:
        (B, C, T) warp field, -distance / 343 m/s * sample_rate.
    """
    if distances.ndim != 3 or distances.shape[-1] == 0 or num_samples % distances.shape[-1]:
        shape = tuple(distances.shape)
        raise ValueError(f"cannot upsample distances {shape} to {num_samples} samples")
    # Each row holds for its own T / K samples. (The original's F.interpolate computes the same
    # index in float32, which puts a few samples per boundary in the wrong row past ~2^23.)
    upsampled = torch.repeat_interleave(distances, num_samples // distances.shape[-1], dim=-1)
    return -upsampled / SPEED_OF_SOUND * sample_rate


def read_times(warpfield: Tensor, *, start: int = 0, num_samples: int | None = None) -> Tensor:
    """Where each output sample reads its input: clamp(t + warpfield, 0, T - 1).

    The sum is formed in the warp field's dtype with absolute sample times, as the original
    did over whole files, so a segment computed on its own matches the whole-file result.

    Args:
        warpfield: (B, C, N) shifts in samples for the output samples start .. start + N - 1.
        start: absolute time of the first output sample.
        num_samples: T, the length of the whole signal (default start + N).

    Returns:
        (B, C, N) fractional sample indices into the whole signal.
    """
    length = warpfield.shape[-1]
    num_samples = start + length if num_samples is None else num_samples
    time = torch.arange(start, start + length, dtype=warpfield.dtype, device=warpfield.device)
    return torch.clamp(warpfield + time, min=0, max=num_samples - 1)


def interpolate_at(signal: Tensor, times: Tensor, *, signal_start: int = 0) -> Tensor:
    """Reads `signal` at fractional `times`, linearly between floor and ceil.

    Differentiable in both arguments (the gradient with respect to a time is the local slope).

    Args:
        signal: (B, C, L), samples signal_start .. signal_start + L - 1 of a longer signal.
        times: (B, C, N) absolute fractional indices, all within the part `signal` holds.
        signal_start: absolute index of `signal`'s first sample.

    Returns:
        (B, C, N) interpolated samples.
    """
    floor = times.floor()
    left = floor.long() - signal_start
    right = torch.clamp(times.ceil().long() - signal_start, max=signal.shape[-1] - 1)
    alpha = times - floor
    # The original's arithmetic, term for term, so that float32 results match it bit for bit.
    return (1 - alpha) * torch.gather(signal, 2, left) + alpha * torch.gather(signal, 2, right)


def time_warp(signal: Tensor, warpfield: Tensor) -> Tensor:
    """Reads `signal` at clamp(t + warpfield, 0, T - 1) with linear interpolation.

    Args:
        signal: (B, C, T).
        warpfield: (B, C, T) shifts in samples.

    Returns:
        (B, C, T) warped signal.
    """
    return interpolate_at(signal, read_times(warpfield))


def geometric_warp(mono: Tensor, positions: Tensor, *, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """The geometric warp of the original BinauralGrad: mono delayed by mouth-to-ear distance.

    This is both the DSP baseline and the first condition of both diffusion stages. It runs on
    the inputs' device and dtype, and is differentiable in `mono` and `positions`.

    Args:
        mono: (B, 1, T) mono speech.
        positions: (B, 7, K) talker rows `x y z qx qy qz qw` at 120 Hz, T == 400 * K.
        sample_rate: audio rate in Hz.

    Returns:
        (B, 2, T) warped audio in mono's dtype: left ear, right ear. Half-precision inputs are
        computed in float32.
    """
    if not isinstance(mono, Tensor) or mono.ndim != 3 or mono.shape[1] != 1:
        shape = tuple(mono.shape) if isinstance(mono, Tensor) else type(mono).__name__
        raise ValueError(f"mono must be a (B, 1, T) tensor, got {shape}")
    check_positions(positions)
    batch, _, num_samples = mono.shape
    frames = positions.shape[2]
    if positions.shape[0] != batch or num_samples != FRAME_SAMPLES * frames or frames == 0:
        raise ValueError(
            f"mono {tuple(mono.shape)} and positions {tuple(positions.shape)} do not match: "
            f"need the same batch and T == {FRAME_SAMPLES} * K"
        )
    if mono.device != positions.device:
        raise ValueError(f"mono is on {mono.device} but positions on {positions.device}")
    if not bool(torch.isfinite(mono).all()):
        raise ValueError("mono contains NaN or inf")
    # Half precision cannot hold sample times (t + warp) to a fraction of a sample.
    dtype = torch.promote_types(torch.promote_types(mono.dtype, positions.dtype), torch.float32)
    distances = ear_distances(positions.to(dtype))
    signal = mono.to(dtype).expand(-1, 2, -1)
    # Block by block: the read times and their integer indices cost about 100 bytes per sample,
    # which for long inputs would outweigh everything else synthesis holds. Elementwise with
    # absolute times, so the result is the same bits as one pass over the whole signal.
    warped = mono.new_empty(batch, 2, num_samples)
    for first in range(0, frames, WARP_BLOCK_FRAMES):
        block = distances[..., first: first + WARP_BLOCK_FRAMES]
        warpfield = warp_field(block, FRAME_SAMPLES * block.shape[-1], sample_rate=sample_rate)
        start = FRAME_SAMPLES * first
        times = read_times(warpfield, start=start, num_samples=num_samples)
        warped[..., start: start + times.shape[-1]] = interpolate_at(signal, times)
    return warped
