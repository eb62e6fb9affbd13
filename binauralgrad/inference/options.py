"""FastOptions: the fast path's knobs, turned into a chunk plan, a tile and a window group."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from binauralgrad.constants import DEFAULT_CROSSFADE_S, DEFAULT_OVERLAP_S, SAMPLE_RATE
from binauralgrad.inference.chunks import ChunkPlan, plan_chunks
from binauralgrad.inference.folded import FastDenoiser
from binauralgrad.inference.memory import estimate_memory, plan_tile
from binauralgrad.inference.tuning import Choice


@dataclass
class FastOptions:
    """The fast path's knobs (see `BinauralGradPipeline.__call__`)."""

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

    def schedule(self, models: list[FastDenoiser], num_steps: int, window: int,
                 count: int, choice: Choice) -> tuple[int, bool, int]:
        """(tile, cache, windows per batch): the machine's choice within the memory budget."""
        device = models[0].device
        if self.tile_seconds:
            preferred = min(window, max(1, round(self.tile_seconds * SAMPLE_RATE)))
        else:
            # A window shorter than two tiles runs as one: its second tile would be a sliver
            # that costs all of a layer call's overhead (0.25 s at paper size: 14 % faster).
            preferred = window if window <= 2 * choice.tile else choice.tile
        configs = [model.config for model in models]
        size = torch.empty(0, dtype=models[0].dtype).element_size()
        budget = self.max_memory_mb
        if budget is None and device.type == "cuda":
            budget = torch.cuda.mem_get_info(device)[0] / 2**20 / 2
        group = 1
        if budget is not None:
            # Whole-window arrays (inputs, outputs, noise) come on top of the wavefront's state.
            per_window = estimate_memory(configs, num_steps, tile=preferred, batch=1,
                                         element_bytes=size, cache=choice.cache) + 64 * window
            group = max(1, min(count, int(budget * 2**20 // per_window)))
        tile, cache = plan_tile(configs, num_steps, max_memory_mb=budget,
                                preferred_tile=preferred, batch=group, element_bytes=size,
                                cache=choice.cache)
        return tile, cache, group
