"""Chunk plans for long inputs, cross-fades between chunks, and the reach that sets overlaps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from binauralgrad.models.config import DenoiserConfig


def receptive_field(configs: list[DenoiserConfig], num_steps: int) -> int:
    """Samples each side of an output sample that the whole pipeline reads.

    One pass reads sum(dilations) samples of its input each side, the condition encoder
    `encoder_reach` (3) more;
    a stage chains `num_steps` passes over one condition, and stage two reads stage one's output.
    For the paper's models and the 6-step schedule: 2 * (6 * 3069 + 3) = 36,834 samples (0.77 s).
    """
    return sum(num_steps * sum(config.dilations) + config.encoder_reach for config in configs)


@dataclass(frozen=True)
class ChunkPlan:
    """Equal-length windows over a signal, and where each hands over to the next.

    Attributes:
        length: samples in the signal.
        window: samples per window (every window has this length, so they batch).
        starts: first sample of each window.
        cuts: the sample where window i + 1 takes over from window i (one per neighbour pair);
            each cut has at least `overlap` samples of context inside both windows.
        fade: length of the cross-fade centred on each cut (0: a hard cut).
    """

    length: int
    window: int
    starts: tuple[int, ...]
    cuts: tuple[int, ...]
    fade: int

    def __len__(self) -> int:
        return len(self.starts)


def plan_chunks(length: int, chunk: int, overlap: int, fade: int = 0) -> ChunkPlan:
    """Cuts [0, length) into cores of `chunk` samples, each read with `overlap` context each side.

    Windows at the signal's ends are shifted inwards rather than shortened, so all windows are
    `chunk + 2 * overlap` long (or the whole signal, if shorter).

    Args:
        length: samples in the signal. chunk: samples per core. overlap: context each side.
        fade: cross-fade length at each cut, at most 2 * overlap and at most chunk.

    Raises:
        ValueError: a size out of range.
    """
    if length < 1 or chunk < 1 or overlap < 0:
        raise ValueError(f"need length >= 1, chunk >= 1, overlap >= 0; got {length}, {chunk}, "
                         f"{overlap}")
    if not 0 <= fade <= min(2 * overlap, chunk):
        raise ValueError(f"fade must lie in [0, min(2 * overlap, chunk)] = "
                         f"[0, {min(2 * overlap, chunk)}], got {fade}")
    window = chunk + 2 * overlap
    if length <= window:
        return ChunkPlan(length, length, (0,), (), 0)
    count = math.ceil(length / chunk)
    cores = [index * chunk for index in range(count)]
    starts = tuple(min(max(core - overlap, 0), length - window) for core in cores)
    return ChunkPlan(length, window, starts, tuple(cores[1:]), fade)


def stitch(pieces: torch.Tensor, plan: ChunkPlan) -> torch.Tensor:
    """Joins per-window results into the whole signal, cross-fading at each cut.

    Args:
        pieces: (n_windows, ..., window) one result per window of `plan`.

    Returns:
        (..., length). Where neighbouring windows agree exactly, so does the join.
    """
    if pieces.shape[0] != len(plan) or pieces.shape[-1] != plan.window:
        raise ValueError(f"pieces {tuple(pieces.shape)} do not fit a plan of {len(plan)} windows "
                         f"of {plan.window} samples")
    out = pieces.new_empty(*pieces.shape[1:-1], plan.length)
    out[..., : plan.window] = pieces[0]
    half = plan.fade // 2
    for index, cut in enumerate(plan.cuts, start=1):
        start, piece = plan.starts[index], pieces[index]
        fade_start = cut - half
        if plan.fade:
            weight = (torch.arange(plan.fade, device=pieces.device, dtype=pieces.dtype) + 0.5) \
                / plan.fade
            region = slice(fade_start - start, fade_start - start + plan.fade)
            # lerp returns `out` itself wherever the two windows agree bit for bit.
            out[..., fade_start: fade_start + plan.fade] = torch.lerp(
                out[..., fade_start: fade_start + plan.fade], piece[..., region], weight)
        begin = fade_start + plan.fade
        out[..., begin: start + plan.window] = piece[..., begin - start:]
    return out
