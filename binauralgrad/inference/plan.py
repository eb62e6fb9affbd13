"""The wavefront's plan: the reach, chunk windows and their cross-fades, the memory budget.

`WavefrontOptions` (the pipeline's knobs) turns into a `ChunkPlan` of windows and, by
`plan_batches`, into a tile, a cache choice and windows per batch that fit the budget, with
memory estimated as the sum of the buffers' own sizes (`binauralgrad.inference.buffers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from binauralgrad.constants import DEFAULT_CROSSFADE_S, DEFAULT_OVERLAP_S, SAMPLE_RATE
from binauralgrad.inference.backends import Backend
from binauralgrad.inference.buffers import Ring, SampleBuffer, Workspace, ring_capacity
from binauralgrad.models.config import DenoiserConfig

MIN_TILE = 256  # below this the per-tile overhead dominates
CATCH_UP = 2  # tiles a layer may advance in one tick when it is behind
# Float32 channels a window holds whole: warp (2), mono, envelope, spreading (2), both stages'
# outputs (1 + 2), their priors' means and scales (3 + 2) and the noise draws ahead (3).
WINDOW_CHANNELS = 16


def pipeline_reach(configs: list[DenoiserConfig], num_steps: int) -> int:
    """Samples each side of an output sample that the whole pipeline reads.

    Each stage reads `DenoiserConfig.stage_reach` (its passes and its encoder), and stage two
    reads stage one's output. For the paper's models and the 6-step schedule:
    2 * (6 * 3069 + 3) = 36,834 samples (0.77 s).
    """
    return sum(config.stage_reach(num_steps) for config in configs)


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


def estimate_memory(configs: list[DenoiserConfig], num_steps: int, *, tile: int, batch: int,
                    element_bytes: int, cache: bool) -> int:
    """Bytes of working memory the wavefront needs beyond the model and the whole-signal arrays.

    Counts each stage's conditioner ring, the rows every layer of every pass keeps (twice its
    dilation) and a tile's transient activations.
    """
    total = 0
    for config in configs:
        width = 2 * config.residual_channels
        capacity = ring_capacity(config.pass_reach, num_steps, tile, config.encoder_reach)
        if cache:  # one ring per layer, no mirror
            rings = config.residual_layers * Ring.nbytes_for(batch, capacity, 0, width,
                                                              element_bytes)
        else:  # one ring of condition rows (and a channel of ones) with its mirror
            rings = Ring.nbytes_for(batch, capacity, CATCH_UP * tile,
                                    config.condition_channels + 1, element_bytes)
        # Each layer of each pass holds the rows its next output reads (about 2 d + 1), and
        # its step's conditioner projection with the bias (`StepBiases.condition`).
        kept = num_steps * (sum(2 * d + 1 for d in config.dilations)
                            + config.residual_layers * (config.condition_channels + 1)) * width
        work = Workspace.nbytes_for(config, batch, CATCH_UP * tile, element_bytes)
        total += rings + kept * element_bytes * batch + work
    return total


def plan_tile(configs: list[DenoiserConfig], num_steps: int, *, max_memory_mb: float | None,
              preferred_tile: int, batch: int, element_bytes: int,
              cache: bool = True) -> tuple[int, bool]:
    """The largest tile up to `preferred_tile` (and whether to cache) that fits the budget.

    Tries halving tiles with the conditioner cache first (where `cache` prefers it), then
    without it (cheaper in memory, dearer in compute); raises ValueError naming the least
    memory that would do.
    """
    if max_memory_mb is None:
        return preferred_tile, cache
    if max_memory_mb <= 0:
        raise ValueError(f"max_memory_mb must be positive, got {max_memory_mb}")
    budget = max_memory_mb * 2**20
    smallest = min(MIN_TILE, preferred_tile)
    tiles = [preferred_tile]
    while tiles[-1] // 2 >= smallest:
        tiles.append(tiles[-1] // 2)
    if tiles[-1] != smallest:
        tiles.append(smallest)
    for cached in (True, False) if cache else (False,):
        for tile in tiles:
            if estimate_memory(configs, num_steps, tile=tile, batch=batch,
                               element_bytes=element_bytes, cache=cached) <= budget:
                return tile, cached
    least = estimate_memory(configs, num_steps, tile=smallest, batch=batch,
                            element_bytes=element_bytes, cache=False)
    raise ValueError(f"max_memory_mb={max_memory_mb} is below the least this needs "
                     f"({least / 2**20:.0f} MB at a {smallest}-sample tile, batch {batch})")


@dataclass
class WavefrontOptions:
    """The wavefront's knobs (see `BinauralGradPipeline.__call__`)."""

    dtype: torch.dtype = torch.float32
    tile_seconds: float | None = None
    chunk_seconds: float | None = None
    overlap_seconds: float = DEFAULT_OVERLAP_S
    crossfade_seconds: float = DEFAULT_CROSSFADE_S
    max_memory_mb: float | None = None

    def __post_init__(self):
        for name in ("tile_seconds", "chunk_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if not self.overlap_seconds >= 0 or not self.crossfade_seconds >= 0:
            raise ValueError(f"overlap_seconds and crossfade_seconds must be >= 0, got "
                             f"{self.overlap_seconds!r}, {self.crossfade_seconds!r}")

    def plan(self, length: int) -> ChunkPlan:
        """One window over everything, or chunk windows when `chunk_seconds` is set."""
        if self.chunk_seconds is None:
            return plan_chunks(length, length, 0)
        chunk = max(1, round(self.chunk_seconds * SAMPLE_RATE))
        overlap = round(self.overlap_seconds * SAMPLE_RATE)
        fade = min(round(self.crossfade_seconds * SAMPLE_RATE), 2 * overlap, chunk)
        return plan_chunks(length, chunk, overlap, fade)


def plan_batches(configs: list[DenoiserConfig], num_steps: int, window: int, count: int,
                 backend: Backend, *, tile_seconds: float | None = None,
                 element_bytes: int = 4) -> tuple[int, bool, int]:
    """(tile, cache, windows per batch) for `count` windows: the backend's within its budget.

    Args:
        configs: the stages' configs. num_steps: passes per stage. window: samples per window.
        backend: `backends.select`'s tile, cache and memory budget.
        tile_seconds: the user's tile (default: the backend's).
        element_bytes: bytes per value in the compute dtype.
    """
    if tile_seconds:
        preferred = min(window, max(1, round(tile_seconds * SAMPLE_RATE)))
    else:
        # A window shorter than two tiles runs as one: its second tile would be a sliver
        # that costs all of a layer call's overhead (0.25 s at paper size: 14 % faster).
        preferred = window if window <= 2 * backend.tile else backend.tile
    budget, group = backend.memory_mb, 1
    if budget is not None:
        # Whole-window arrays (inputs, outputs, prior, noise) come on top of the wavefront's.
        per_window = estimate_memory(configs, num_steps, tile=preferred, batch=1,
                                     element_bytes=element_bytes, cache=backend.cache) \
            + SampleBuffer.nbytes_for(1, WINDOW_CHANNELS, window, 4)
        group = max(1, min(count, int(budget * 2**20 // per_window)))
    tile, cache = plan_tile(configs, num_steps, max_memory_mb=budget, preferred_tile=preferred,
                            batch=group, element_bytes=element_bytes, cache=backend.cache)
    return tile, cache, group
