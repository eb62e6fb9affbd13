"""The conditioner ring: a stage's projected condition rows between its slowest and fastest node."""

from __future__ import annotations

from collections.abc import Callable

import torch


class Ring:
    """Rows of a stream at window positions [start, end) in a fixed ring.

    With `mirror` > 0 the first `mirror` rows are also kept after the end of the ring, so that
    any `read` of up to `mirror` rows is one contiguous view. Rings only ever copied out of
    (`read_into`) need no mirror: at the conditioner cache's width a mirror costs about as much
    memory and copying as a sixth of the ring.
    """

    def __init__(self, batch: int, capacity: int, mirror: int, channels: int, like: torch.Tensor):
        self.data = like.new_empty(batch, capacity + mirror, channels)
        self.capacity, self.mirror, self.start, self.end = capacity, mirror, 0, 0

    def space_end(self) -> int:
        return self.start + self.capacity

    def write(self, rows: torch.Tensor) -> None:
        """Appends (B, n, C) rows."""
        self.fill(rows.shape[1], lambda out, low, high: out.copy_(rows[:, low:high]))

    def fill(self, count: int, write: Callable[[torch.Tensor, int, int], object]) -> None:
        """Appends `count` rows that `write(out, low, high)` puts into `out` (rows low .. high - 1
        of the `count`), so that they are computed in place rather than copied in."""
        if self.end + count > self.space_end():
            raise RuntimeError("conditioner ring overrun (a scheduling bug)")
        done = 0
        while done < count:
            index = (self.end + done) % self.capacity
            part = min(count - done, self.capacity - index)
            write(self.data[:, index: index + part], done, done + part)
            if index < self.mirror:
                copied = min(part, self.mirror - index)
                self.data[:, self.capacity + index: self.capacity + index + copied] = \
                    self.data[:, index: index + copied]
            done += part
        self.end += count

    def read(self, first: int, last: int) -> torch.Tensor:
        """Rows first .. last - 1 as one view (at most `mirror` rows)."""
        self._check(first, last, self.mirror)
        index = first % self.capacity
        return self.data[:, index: index + last - first]

    def read_into(self, out: torch.Tensor, first: int, last: int, plus: torch.Tensor) -> None:
        """out = rows first .. last - 1 + `plus` (in two parts where they wrap)."""
        self._check(first, last, self.capacity)
        index, count = first % self.capacity, last - first
        part = min(count, self.capacity - index)
        torch.add(self.data[:, index: index + part], plus, out=out[:, :part])
        if part < count:
            torch.add(self.data[:, : count - part], plus, out=out[:, part:])

    def _check(self, first: int, last: int, most: int) -> None:
        if not self.start <= first <= last <= self.end or last - first > most:
            raise RuntimeError(f"conditioner rows {first}..{last} are not held (a scheduling bug)")


def ring_capacity(receptive_field: int, num_steps: int, tile: int, encoder_reach: int) -> int:
    """Conditioner rows a stage keeps: from its last pass's frontier to its encoder's, plus slack.

    The last pass's last layer trails the encoder by num_steps * receptive_field samples and a
    tile; the encoder writes a tile ahead; one more tile lets backlogs drain.
    """
    return num_steps * receptive_field + 3 * tile + 4 * encoder_reach + 16
