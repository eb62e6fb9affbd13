"""Sampling noise indexed by absolute sample position, so that any chunking draws the same noise."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

# Draws (B, C, T) unit Gaussian noise for the reference sampler (first the initial noise, then
# the fresh noise after each step with sigma > 0).
NoiseSource = Callable[[tuple[int, ...]], torch.Tensor]

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _splitmix64(value: int) -> int:
    """One step of SplitMix64 on a Python int (exact; used for the per-stream keys)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _mul32(values: torch.Tensor, constant: int) -> torch.Tensor:
    # (values * constant) mod 2^32 on int64 tensors holding uint32 values, in 16-bit halves so
    # that no product overflows int64 (signed overflow is undefined behaviour in the kernels).
    low = values & 0xFFFF
    high = values >> 16
    return (low * constant + (((high * constant) & 0xFFFF) << 16)) & _MASK32


def _mix32(values: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser (a bijection with full avalanche) on uint32-in-int64."""
    values = values ^ (values >> 16)
    values = _mul32(values, 0x85EBCA6B)
    values = values ^ (values >> 13)
    values = _mul32(values, 0xC2B2AE35)
    return values ^ (values >> 16)


class PositionalNoise:
    """Counter-based unit Gaussian noise: one value per (seed, stage, draw, item, channel, sample).

    Each value is a hash of its coordinates turned into a Gaussian by Box-Muller (in float64,
    rounded to float32), so a chunk of any length at any offset sees exactly the noise the whole
    signal sees at the same absolute samples. `draw` 0 is a stage's initial noise, draw k > 0 the
    fresh noise added after the k-th reverse step.

    Example:
        >>> noise = PositionalNoise.from_generator(torch.Generator().manual_seed(0))
        >>> whole = noise.sample(1, 0, items=[0], starts=[0], length=1000, channels=2)
        >>> part = noise.sample(1, 0, items=[0], starts=[600], length=100, channels=2)
        >>> torch.equal(whole[:, 600:700], part)
        True
    """

    def __init__(self, seed: int):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed & _MASK64

    @classmethod
    def from_generator(cls, generator: torch.Generator | None) -> PositionalNoise:
        """Draws one 64-bit seed from `generator` (the default generator when None)."""
        device = generator.device if generator is not None else "cpu"
        halves = torch.randint(0, 2**32, (2,), generator=generator, dtype=torch.int64,
                               device=device).tolist()
        return cls((halves[0] << 32) | halves[1])

    def _keys(self, stage: int, draw: int, item: int, channel: int) -> tuple[int, int, int]:
        key = self.seed
        for part in (stage, draw, item, channel):
            key = _splitmix64(key ^ (part & _MASK64))
        follow = _splitmix64(key)
        return key & _MASK32, key >> 32, follow & _MASK32

    def sample(self, stage: int, draw: int, *, items: Sequence[int], starts: Sequence[int],
               length: int, channels: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Noise for samples starts[b] .. starts[b] + length - 1 of input items[b].

        Args:
            stage: 1 or 2. draw: 0 for the initial noise, k for the noise after step k.
            items: the input (batch) index of each row; starts: each row's first absolute sample.
            length, channels: the window's size.

        Returns:
            (B, length, channels) float32, B = len(items): rows of time, channels last.
        """
        if len(items) != len(starts):
            raise ValueError(f"items ({len(items)}) and starts ({len(starts)}) differ in length")
        offsets = torch.arange(length, dtype=torch.int64, device=device)[:, None]
        rows = []
        for item, start in zip(items, starts, strict=True):
            # All channels at once: each column hashes with its own keys (broadcast).
            keys = torch.tensor([self._keys(stage, draw, item, channel)
                                 for channel in range(channels)], dtype=torch.int64,
                                device=device).reshape(channels, 3).t()
            rows.append(self._gaussian(offsets + int(start), *keys))
        return torch.stack(rows).to(torch.float32)

    @staticmethod
    def _gaussian(positions: torch.Tensor, key1, key2, key3) -> torch.Tensor:
        state = _mix32((positions + key1) & _MASK32)
        state = _mix32(state ^ key2)
        other = _mix32(state ^ key3)
        # 24-bit uniforms; u1 in (0, 1) keeps the logarithm finite.
        uniform1 = ((state >> 8).to(torch.float64) + 0.5) / 2.0**24
        uniform2 = (other >> 8).to(torch.float64) / 2.0**24
        return torch.sqrt(-2.0 * torch.log(uniform1)) * torch.cos(2.0 * math.pi * uniform2)

    def source(self, stage: int, *, items: Sequence[int], starts: Sequence[int],
               device: torch.device | str = "cpu") -> NoiseSource:
        """A `NoiseSource` for the reference sampler that draws this noise: (B, C, T) per call."""
        calls = [0]

        def draw(shape: tuple[int, ...]) -> torch.Tensor:
            batch, channels, length = shape
            if batch != len(items):
                raise ValueError(f"noise for {batch} rows requested, {len(items)} items known")
            values = self.sample(stage, calls[0], items=items, starts=starts, length=length,
                                 channels=channels, device=device)
            calls[0] += 1
            return values.transpose(1, 2).contiguous()

        return draw
