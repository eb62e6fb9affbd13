"""A bounded buffer of time-major rows addressed by absolute sample, trimmed from the front."""

from __future__ import annotations

import torch
from torch.nn import functional as F


class SampleBuffer:
    """Rows (B, n, C) of samples [start, end) of a stream that only grows at its end.

    Appending past the allocation first moves the live rows to the front (dropping the trimmed
    ones) and grows only if they still do not fit, so a buffer trimmed as it is read stays within
    twice its largest live size however long the stream runs.

    Args:
        batch, channels: the row shape. like: a tensor of the wanted device and dtype.
        capacity: rows to allocate at first (the whole length, where it is known).
    """

    def __init__(self, batch: int, channels: int, like: torch.Tensor, capacity: int = 0):
        self.data = like.new_zeros(batch, max(capacity, 1), channels)
        self.start = self.end = 0
        self._offset = 0  # data row of sample `start`

    def __len__(self) -> int:
        return self.end - self.start

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size()

    def append(self, rows: torch.Tensor) -> None:
        """Adds (B, n, C) rows as samples end .. end + n - 1."""
        count = rows.shape[1]
        if self._offset + len(self) + count > self.data.shape[1]:
            self._make_room(count)
        at = self._offset + len(self)
        self.data[:, at: at + count] = rows
        self.end += count

    def _make_room(self, count: int) -> None:
        live = self.data[:, self._offset: self._offset + len(self)]
        size = self.data.shape[1]
        if len(self) + count > size // 2:  # keep room to append without moving every time
            size = max(2 * (len(self) + count), 2 * size)
            data = self.data.new_zeros(self.data.shape[0], size, self.data.shape[2])
        else:
            data = self.data
        data[:, : len(self)] = live.clone() if data is self.data else live
        self.data, self._offset = data, 0

    def rows(self, first: int, last: int) -> torch.Tensor:
        """A view of samples first .. last - 1 (all held)."""
        if not self.start <= first <= last <= self.end:
            raise RuntimeError(f"samples {first}..{last} are not held ({self.start}..{self.end}; "
                               "a scheduling bug)")
        offset = self._offset - self.start
        return self.data[:, offset + first: offset + last]

    def channels(self, first: int, last: int, length: int) -> torch.Tensor:
        """(B, C, last - first) of samples first .. last - 1, zero outside [0, length)."""
        low, high = max(first, 0), min(last, length)
        if high <= low:
            return self.data.new_zeros(self.data.shape[0], self.data.shape[2], last - first)
        return F.pad(self.rows(low, max(low, high)).transpose(1, 2), (low - first, last - high))

    def trim(self, first: int) -> None:
        """Forgets the samples before `first`."""
        first = min(max(first, self.start), self.end)
        self._offset += first - self.start
        self.start = first


def held_bytes(tensors) -> int:
    """Bytes of the storages behind `tensors` (each storage counted once, views included)."""
    storages = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())
