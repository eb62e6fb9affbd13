"""What the wavefront synthesises: windows of whole inputs, read with zeros outside them."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.view import view_features


@dataclass
class Windows:
    """What to synthesise: row b is samples starts[b] .. starts[b] + length - 1 of input items[b].

    Each window is sampled as if it were the whole signal (zero padding at its edges), with the
    noise of its absolute samples; a window covering a whole input reproduces the reference.

    Attributes:
        warped: (N, 2, T) geometric warp of the whole inputs, float32.
        mono: (N, 1, T). positions: (N, 7, K) with T == 400 * K.
        items, starts: per row, the input index and the first absolute sample.
        length: samples per window.
        envelope: (N, 1, T) `binauralgrad.prior.envelope` of the whole inputs, for stages
            whose prior is scaled by it (computed once over the whole input, so that every
            tiling and chunking sees the same values).
        spreading: (N, 2, T) `dsp.spreading_gain` of the whole inputs, for attenuated warp
            priors (computed once, as the envelope).
    """

    warped: torch.Tensor
    mono: torch.Tensor
    positions: torch.Tensor
    items: list[int]
    starts: list[int]
    length: int
    envelope: torch.Tensor | None = None
    spreading: torch.Tensor | None = None
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # views of `positions`

    ended = True  # the whole windows are known (a stream's inputs end only when flushed)

    @property
    def encoder_end(self) -> int:
        """How far the warp, mono and positions are known: everywhere."""
        return self.length

    @property
    def prior_end(self) -> int:
        """How far the priors' terms are known: everywhere."""
        return self.length

    def read(self, name: str, first: int, last: int) -> torch.Tensor:
        """`gather` of the field `name` ("warped", "mono", "envelope", "spreading")."""
        return self.gather(getattr(self, name), first, last)

    def gather(self, full: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """(B, C, last - first) of window samples first .. last - 1 (zero outside the window)."""
        low, high = max(first, 0), min(last, self.length)
        parts = [full[item, :, start + low: start + high]
                 for item, start in zip(self.items, self.starts, strict=True)]
        return F.pad(torch.stack(parts), (low - first, last - high))

    def view(self, first: int, last: int, view: str = "rows") -> torch.Tensor:
        """(B, V, last - first) `view_features` of the positions, held for 400 samples each."""
        if view not in self.features:
            self.features[view] = view_features(self.positions, view)
        rows = self.features[view]
        low, high = max(first, 0), min(last, self.length)
        parts = []
        for item, start in zip(self.items, self.starts, strict=True):
            frames = torch.arange(start + low, start + high, device=self.positions.device)
            parts.append(rows[item][:, frames // FRAME_SAMPLES])
        return F.pad(torch.stack(parts), (low - first, last - high))
