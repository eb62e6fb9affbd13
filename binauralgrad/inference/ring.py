"""The conditioner ring: a stage's projected condition rows between its slowest and fastest node."""

from __future__ import annotations

import torch


class Ring:
    """Rows of a stream at window positions [start, end) in a fixed ring.

    The first `mirror` rows are also kept after the end of the ring, so that any read of up to
    `mirror` rows is one contiguous view (no copy, no split).
    """

    def __init__(self, batch: int, capacity: int, mirror: int, channels: int, like: torch.Tensor):
        self.data = like.new_empty(batch, capacity + mirror, channels)
        self.capacity, self.mirror, self.start, self.end = capacity, mirror, 0, 0

    def space_end(self) -> int:
        return self.start + self.capacity

    def write(self, rows: torch.Tensor) -> None:
        count = rows.shape[1]
        if self.end + count > self.space_end():
            raise RuntimeError("conditioner ring overrun (a scheduling bug)")
        done = 0
        while done < count:
            index = (self.end + done) % self.capacity
            part = min(count - done, self.capacity - index)
            self.data[:, index: index + part] = rows[:, done: done + part]
            if index < self.mirror:
                copied = min(part, self.mirror - index)
                self.data[:, self.capacity + index: self.capacity + index + copied] = \
                    rows[:, done: done + copied]
            done += part
        self.end += count

    def read(self, first: int, last: int) -> torch.Tensor:
        if not self.start <= first <= last <= self.end or last - first > self.mirror:
            raise RuntimeError(f"conditioner rows {first}..{last} are not held (a scheduling bug)")
        index = first % self.capacity
        return self.data[:, index: index + last - first]


def ring_capacity(receptive_field: int, num_steps: int, tile: int, encoder_reach: int) -> int:
    """Conditioner rows a stage keeps: from its last pass's frontier to its encoder's, plus slack.

    The last pass's last layer trails the encoder by num_steps * receptive_field samples and a
    tile; the encoder writes a tile ahead; one more tile lets backlogs drain.
    """
    return num_steps * receptive_field + 3 * tile + 4 * encoder_reach + 16
