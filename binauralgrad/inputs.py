"""The inputs' checks, in one place, and their shaping: mono audio and 120 Hz position rows.

The pipeline, the stream, the geometric warp and the denoiser all check their inputs here, so
a shape is described (and its error worded) once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from binauralgrad.constants import FRAME_SAMPLES, POSITION_COLUMNS


@dataclass
class PreparedInputs:
    """Inputs in the models' layout, padded to whole position frames, in float32.

    Float32 even when the models run in half precision: in bf16 a 1.5 m distance is only
    resolved to about a centimetre, a whole sample of delay in the geometric warp.

    Attributes:
        mono: (B, 1, T') zero-padded so that T' = 400 * K.
        positions: (B, 7, K).
        length: the caller's T, to trim outputs back to.
        batched: whether the caller passed a batch (outputs keep the batch axis).
    """

    mono: torch.Tensor
    positions: torch.Tensor
    length: int
    batched: bool


def as_real_tensor(value, name: str, *, allow_empty: bool = False) -> torch.Tensor:
    """An array or tensor of real numbers, checked: ValueError naming `name` otherwise."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array, "
                         f"got {type(value).__name__}")
    if not (value.is_floating_point() or value.dtype in (torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if value.numel() == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)})")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf")
    return value


def check_positions(positions: torch.Tensor, *, name: str = "positions") -> None:
    """Raises ValueError unless `positions` is a finite floating (B, 7, K) tensor."""
    if not isinstance(positions, torch.Tensor):
        raise ValueError(f"{name} must be a torch.torch.Tensor, got {type(positions).__name__}")
    if positions.ndim != 3 or positions.shape[1] != POSITION_COLUMNS:
        raise ValueError(
            f"{name} must be (B, 7, K) [x y z qx qy qz qw], got {tuple(positions.shape)}"
        )
    if not positions.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {positions.dtype}")
    if not bool(torch.isfinite(positions).all()):
        raise ValueError(f"{name} contains NaN or inf")


def check_position_rows(rows: torch.Tensor, name: str = "positions", *,
                        batched: bool = True) -> None:
    """Raises ValueError unless `rows` is (K, 7), or (B, K, 7) where `batched`, time-major."""
    shapes = "(K, 7) or (B, K, 7)" if batched else "(k, 7)"
    if rows.dim() not in ((2, 3) if batched else (2,)) or rows.shape[-1] != POSITION_COLUMNS:
        raise ValueError(f"{name} must be {shapes} rows of x y z qx qy qz qw, got shape "
                         f"{tuple(rows.shape)}")


def check_conditions(warped: torch.Tensor, mono: torch.Tensor, positions: torch.Tensor,
                     mean: torch.Tensor | None, *, frame_samples: int,
                     use_mean_condition: bool) -> None:
    """Raises ValueError unless a denoiser's (B, C, T) conditions fit one another."""
    batch, length = mono.shape[0], mono.shape[-1]
    if mono.dim() != 3 or mono.shape[1] != 1:
        raise ValueError(f"mono must be (B, 1, T), got {tuple(mono.shape)}")
    if warped.shape != (batch, 2, length):
        raise ValueError(f"warped must be (B, 2, T) = ({batch}, 2, {length}), "
                         f"got {tuple(warped.shape)}")
    frames = length // frame_samples
    if positions.shape != (batch, 7, frames) or frames * frame_samples != length:
        raise ValueError(f"positions must be (B, 7, T/{frame_samples}) "
                         f"for T={length}, got {tuple(positions.shape)}")
    if use_mean_condition and (mean is None or mean.shape != mono.shape):
        got = None if mean is None else tuple(mean.shape)
        raise ValueError(f"stage two needs mean (B, 1, T) = {tuple(mono.shape)}, got {got}")
    if not use_mean_condition and mean is not None:
        raise ValueError("this denoiser (stage one) takes no mean condition")


def prepare_inputs(mono, positions, *, device: torch.device | str = "cpu") -> PreparedInputs:
    """Validates mono audio and positions and brings them into the models' layout.

    Args:
        mono: (T,), (1, T) or (B, T) audio at 48 kHz (or (B, 1, T)), tensor or ndarray.
        positions: (K, 7) or (B, K, 7) rows `x y z qx qy qz qw` at 120 Hz, K = ceil(T / 400).
        device: where the models run.

    Raises:
        ValueError: naming the shape or value that is wrong.
    """
    mono = as_real_tensor(mono, "mono")
    positions = as_real_tensor(positions, "positions")
    if mono.dim() == 3 and mono.shape[1] == 1:
        mono = mono[:, 0]
    if mono.dim() not in (1, 2):
        raise ValueError(f"mono must be (T,), (1, T) or (B, T), got shape {tuple(mono.shape)}")
    check_position_rows(positions)
    if mono.dim() == 2 and mono.shape[0] > 1 and positions.dim() == 2:
        # A stereo file read whole, or a forgotten `[0]`, would silently become a batch.
        raise ValueError(
            f"mono is {tuple(mono.shape)}: {mono.shape[0]} signals, but positions "
            f"{tuple(positions.shape)} are one track. For a batch pass (B, K, 7) positions; for "
            "a multichannel recording pass one channel (e.g. read_wav(path)[0]) or a downmix")
    batched = (mono.dim() == 2 and mono.shape[0] > 1) or positions.dim() == 3
    mono = mono.reshape(-1, mono.shape[-1])
    batch, length = mono.shape
    if positions.dim() == 2:
        positions = positions.expand(batch, *positions.shape)
    elif positions.shape[0] != batch:
        raise ValueError(f"mono holds {batch} signal(s) but positions {positions.shape[0]}")
    frames = -(-length // FRAME_SAMPLES)
    if positions.shape[1] != frames:
        raise ValueError(
            f"positions has {positions.shape[1]} rows, but {length} samples at 48 kHz need "
            f"ceil({length} / {FRAME_SAMPLES}) = {frames} rows at 120 Hz"
        )
    mono = F.pad(mono.to(device=device, dtype=torch.float32), (0, frames * FRAME_SAMPLES - length))
    return PreparedInputs(
        mono=mono.unsqueeze(1),
        positions=positions.to(device=device, dtype=torch.float32).transpose(1, 2),
        length=length,
        batched=batched,
    )


IMPLEMENTATIONS = ("wavefront", "reference")
_OLD_IMPLEMENTATION_NAMES = {"fast": "wavefront"}


def resolve_sampling(steps: str | int, fast: bool | None, implementation: str,
                     wavefront_options: dict) -> tuple[str | int, str]:
    """Checks the pipeline's sampling options; returns (steps, implementation).

    Args:
        steps: "fast" (the fast schedule), a number of fast steps, or "full" (every training
            step).
        fast: the deprecated boolean spelling of `steps` (None: not given).
        implementation: "wavefront" or "reference" ("fast" is the deprecated "wavefront").
        wavefront_options: {name: value} of the options only the wavefront uses, as given
            (None or the default where not given); any set one is refused by "reference".

    Raises:
        ValueError: an unknown value, or an option that does not apply.
    """
    import warnings

    from binauralgrad.schedule import check_steps

    if fast is not None:
        warnings.warn("`fast=` is deprecated: pass steps='fast' or steps='full'",
                      DeprecationWarning, stacklevel=3)
        steps = "fast" if fast else "full"
    check_steps(steps)
    if implementation in _OLD_IMPLEMENTATION_NAMES:
        new = _OLD_IMPLEMENTATION_NAMES[implementation]
        warnings.warn(f"implementation={implementation!r} is deprecated: pass {new!r}",
                      DeprecationWarning, stacklevel=3)
        implementation = new
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {list(IMPLEMENTATIONS)}, "
                         f"got {implementation!r}")
    given = sorted(name for name, value in wavefront_options.items() if value)
    if implementation == "reference" and given:
        raise ValueError(f"{', '.join(given)} only apply to implementation='wavefront'; the "
                         "reference path runs every pass over the whole input in the "
                         "pipeline's dtype")
    return steps, implementation
