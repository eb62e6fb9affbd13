"""The wavefront's working memory: an estimate per tile, and the largest tile within a budget."""

from __future__ import annotations

from binauralgrad.inference.ring import ring_capacity
from binauralgrad.inference.wavefront import CATCH_UP
from binauralgrad.models.config import DenoiserConfig

MIN_TILE = 256  # below this the per-tile overhead dominates


def estimate_memory(configs: list[DenoiserConfig], num_steps: int, *, tile: int, batch: int,
                    element_bytes: int, cache: bool) -> int:
    """Bytes of working memory the wavefront needs beyond the model and the whole-signal arrays.

    Counts each stage's conditioner ring, the rows every layer of every pass keeps (twice its
    dilation) and a tile's transient activations.
    """
    total = 0
    for config in configs:
        width = 2 * config.residual_channels
        layer_dilations = config.dilations
        capacity = ring_capacity(sum(layer_dilations), num_steps, tile, config.encoder_reach)
        if cache:  # one ring per layer, no mirror
            ring_width = width * len(layer_dilations)
        else:  # one ring of condition rows with its mirror
            capacity += CATCH_UP * tile
            ring_width = config.condition_channels
        kept = num_steps * sum(2 * d + 1 for d in layer_dilations) * width
        # The layer chain (Workspace.chain) and a tile's pre-activations and gates.
        transient = (2 * sum(layer_dilations) + 5 * CATCH_UP * tile
                     + 4 * max(layer_dilations)) * width
        total += (capacity * ring_width + kept + transient) * element_bytes * batch
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
