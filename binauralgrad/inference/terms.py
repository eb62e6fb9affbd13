"""A stage's per-sample terms for the wavefront: its prior and its noise, each computed once."""

from __future__ import annotations

from collections.abc import Callable

import torch

from binauralgrad.inference.buffers import SampleBuffer
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.models.head_filter import HeadFilter, heard_between
from binauralgrad.prior import Prior, stage_prior

NOISE_AHEAD = 4096  # samples of a noise draw made at once when a pass asks for fewer
# A stage's noise streams (one per draw) start their refills this many parts of NOISE_AHEAD
# apart, so that a stream's pushes pay for about one refill each instead of all of them in one
# push every NOISE_AHEAD samples (a 10 ms push with every refill took 15 % longer).
NOISE_STAGGER = 8


class LearnedEars:
    """Learned heads' ears (`head_filter.heard_between`) at each sample, for one stage or more.

    Stages whose heads have one length and read the same ears share one: each sample is
    computed once for all their heads (one unfolding of the ears, one direction basis, one
    weighted sum; each head's products its own) and each stage reads its own head's rows when
    it gets there, stage two behind stage one. A sample's value does not depend on the range it
    is computed in, so sharing keeps every bit.

    Args:
        heads: the stages' `HeadFilter`s. windows: the inputs (`read`).
        like: a float32 tensor on the device; batch: windows per batch.
        attenuated: whether the heads filter the attenuated warp (else the warp).
    """

    def __init__(self, heads: list[HeadFilter], windows, like: torch.Tensor, batch: int,
                 attenuated: bool):
        self.heads, self.windows, self.attenuated = heads, windows, attenuated
        self.buffers = [SampleBuffer(batch, 2, like) for _ in heads]
        self.end = 0

    @classmethod
    def for_stages(cls, configs, heads, windows, like: torch.Tensor, batch: int):
        """Per stage, (shared LearnedEars, its head's index), or None for every stage where the
        stages' heads cannot share (a stage without one, other lengths or prior kinds)."""
        kinds = {(config.prior.head_taps, config.prior.needs_spreading) for config in configs}
        if any(head is None for head in heads) or len(kinds) != 1:
            return [None] * len(heads)
        shared = cls(list(heads), windows, like, batch, configs[0].prior.needs_spreading)
        return [(shared, index) for index in range(len(heads))]

    def rows(self, head: int, first: int, last: int) -> torch.Tensor:
        """Head `head`'s ears at window samples first .. last - 1: (B, 2, last - first)."""
        if last > self.end:
            heard = heard_between(self.heads, self.windows.read, self.end, last,
                                  attenuated=self.attenuated)
            for index, buffer in enumerate(self.buffers):
                buffer.append(heard[:, index].transpose(1, 2))
            self.end = last
        return self.buffers[head].rows(first, last).transpose(1, 2)

    def trim(self, head: int, first: int) -> None:
        """Forgets head `head`'s samples before `first`."""
        self.buffers[head].trim(first)

    def tensors(self) -> list[torch.Tensor]:
        return [buffer.data for buffer in self.buffers]


class PriorRows:
    """A stage's prior (mean and std rows) at each sample, computed once for all its passes.

    Every pass's update and the stage's decode read the prior of the same samples; the values
    are elementwise in the inputs, so computing a sample once, in any range, gives the same bits.

    Args:
        config: the stage's DenoiserConfig. windows: the inputs (`read`).
        head: the stage's learned head (`HeadFilter`), or None.
        mean: stage two's mean condition, (first, last) -> (B, 1, last - first), or None.
        like: a float32 tensor on the device; batch: windows per batch.
        ears: (LearnedEars, this head's index) shared with the other stage (`for_stages`);
            else the stage computes its head's ears on its own.
    """

    def __init__(self, config, windows, mean: Callable[[int, int], torch.Tensor] | None,
                 like: torch.Tensor, batch: int, head: HeadFilter | None = None,
                 ears: tuple[LearnedEars, int] | None = None):
        self.config, self.windows, self.mean = config, windows, mean
        if ears is None and head is not None:
            ears = LearnedEars([head], windows, like, batch, config.prior.needs_spreading), 0
        self.ears = ears
        channels = config.out_channels
        self.means = SampleBuffer(batch, channels, like) if config.prior.kind != "zero" else None
        self.stds = SampleBuffer(batch, 1, like) if config.prior.needs_envelope else None
        self.end = 0

    def rows(self, first: int, count: int) -> Prior | None:
        """The prior at window samples first .. first + count - 1, as (B, count, C) rows."""
        if self.config.diffuses_signal:
            return None
        last = first + count
        if last > self.end:
            self._compute(self.end, last)
        mean = None if self.means is None else self.means.rows(first, last)
        std = float(self.config.prior.scale) if self.stds is None else \
            self.stds.rows(first, last)
        return Prior(mean, std)

    def _compute(self, first: int, last: int) -> None:
        config, read = self.config, self.windows.read
        envelope = read("envelope", first, last) if config.prior.needs_envelope else None
        spreading = read("spreading", first, last) if config.prior.needs_spreading else None
        mean = self.mean(first, last) if self.mean is not None else None
        heard = None
        if self.ears is not None:
            ears, head = self.ears
            heard = ears.rows(head, first, last)
        prior = stage_prior(config, read("warped", first, last), mean, envelope,
                            spreading, heard=heard).transposed()
        if self.means is not None:
            self.means.append(prior.mean)
        if self.stds is not None:
            self.stds.append(prior.std)
        self.end = last

    def trim(self, first: int) -> None:
        """Forgets the samples before `first` (no pass reads them again)."""
        for buffer in (self.means, self.stds):
            if buffer is not None:
                buffer.trim(first)
        if self.ears is not None:
            ears, head = self.ears
            ears.trim(head, first)

    def tensors(self) -> list[torch.Tensor]:
        held = [buffer.data for buffer in (self.means, self.stds) if buffer is not None]
        return held + (self.ears[0].tensors() if self.ears is not None else [])


class NoiseRows:
    """A stage's noise draws, made `NOISE_AHEAD` samples at a time and read in order.

    The noise is a function of the absolute sample, so drawing it in larger pieces changes no
    value; it saves the many small draws that short tiles (a stream's blocks) would make. Each
    stream's first draw is longer by its own share of NOISE_AHEAD (`NOISE_STAGGER`), so that
    the streams' refills fall in different pushes.
    """

    def __init__(self, noise: PositionalNoise, stage: int, windows, channels: int, device):
        self.noise, self.stage, self.windows = noise, stage, windows
        self.channels, self.device = channels, device
        self.held: dict[int, tuple[int, torch.Tensor]] = {}

    def rows(self, draw: int, first: int, count: int) -> torch.Tensor:
        """(B, count, C) float32 noise of `draw` for window samples first .. first + count - 1."""
        start, values = self.held.get(draw, (0, None))
        if values is None or not start <= first or first + count > start + values.shape[1]:
            ahead = NOISE_AHEAD
            if values is None:  # the stream's first draw: its stagger
                ahead += (2 * draw + self.stage - 1) % NOISE_STAGGER * NOISE_AHEAD // NOISE_STAGGER
            start, values = first, self._draw(draw, first, max(count, ahead))
            self.held[draw] = start, values
        return values[:, first - start: first - start + count]

    def _draw(self, draw: int, first: int, count: int) -> torch.Tensor:
        starts = [start + first for start in self.windows.starts]
        return self.noise.sample(self.stage, draw, items=self.windows.items, starts=starts,
                                 length=count, channels=self.channels, device=self.device)

    def tensors(self) -> list[torch.Tensor]:
        return [values for _, values in self.held.values()]
