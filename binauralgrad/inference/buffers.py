"""The wavefront's buffers: conditioner rings, sample buffers and a tile's workspace.

Each reports its own byte size (`nbytes`) and the size it would take (`nbytes_for`), so that
the memory plan adds up the buffers instead of copying their shapes. The large ones come from
an allocator (`FRESH`, or a `BufferPool`'s lease that keeps them from one run for the next).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch.nn import functional as F

GATE_PAD = 16  # extra row stride of `Workspace.u` (see `folded._gate`)
# Elementwise ops over more elements than this split them between threads (ATen's GRAIN_SIZE).
PARALLEL_GRAIN = 32768
# Rows the gate may run past a tile's end, so that its threads' shares end on whole rows
# (`Workspace.gate_rows`).
GATE_SLACK = 64


class Fresh:
    """The allocator that keeps nothing: each buffer is new (`BufferPool.lease` reuses them)."""

    @staticmethod
    def empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor of `shape` with `like`'s dtype and device."""
        return like.new_empty(shape)


FRESH = Fresh()


class BufferPool:
    """Large CPU buffers kept from one wavefront run for the next (a pipeline holds one).

    At paper size a run's conditioner rings take about 1.5 GB, each row written once. Freed,
    that memory goes back to the operating system, and the next run faults every page in again:
    measured on this project's 2-core virtual machine, 5 to 18 s of system time a run beside
    10.5 s of arithmetic (0.5 s of audio); leased from a pool, the second run faults almost none.

    A pool holds at most what its last finished lease used, until `clear`. A lease that asks for
    a shape the pool does not hold (another dtype, tile or model) lets go of the rest first, so
    that the old buffers and the new ones are not held at once.
    """

    def __init__(self):
        self._free: dict[tuple, list[torch.Tensor]] = {}
        self._lock = threading.Lock()

    def __reduce__(self):  # copies and pickles start empty (a lock does not copy)
        return BufferPool, ()

    @contextmanager
    def lease(self) -> Iterator[_Lease]:
        """An allocator (`empty`) whose buffers come back to the pool when the block ends.

        A buffer is handed to one lease at a time, so runs in several threads may share a pool.
        """
        lease = _Lease(self)
        try:
            yield lease
        finally:
            kept = {}
            for tensor in lease.taken:
                kept.setdefault(_pool_key(tuple(tensor.shape), tensor), []).append(tensor)
            with self._lock:
                self._free = kept  # what this run did not use is let go: memory stays bounded

    @property
    def nbytes(self) -> int:
        """Bytes the pool holds between runs."""
        with self._lock:
            return held_bytes(tensor for tensors in self._free.values() for tensor in tensors)

    def clear(self) -> None:
        """Lets go of every held buffer."""
        with self._lock:
            self._free = {}

    def _take(self, key: tuple) -> torch.Tensor | None:
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
            self._free = {}  # another kind of run: what is held will not fit it
            return None


class _Lease:
    """A `BufferPool.lease`'s allocator."""

    def __init__(self, pool: BufferPool):
        self._pool, self.taken = pool, []

    def empty(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor (a held one where the pool has its shape): as `Fresh.empty`."""
        shape = tuple(shape)
        if like.device.type != "cpu":  # a GPU's caching allocator already reuses its memory
            return FRESH.empty(shape, like)
        tensor = self._pool._take(_pool_key(shape, like))
        if tensor is None:
            tensor = FRESH.empty(shape, like)
        self.taken.append(tensor)
        return tensor


def _pool_key(shape: tuple[int, ...], like: torch.Tensor) -> tuple:
    return shape, like.dtype, like.device


class Ring:
    """Rows of a stream at window positions [start, end) in a fixed ring.

    With `mirror` > 0 the first `mirror` rows are also kept after the end of the ring, so that
    any `read` of up to `mirror` rows is one contiguous view. Rings only ever copied out of
    (`read_into`) need no mirror: at the conditioner cache's width a mirror costs about as much
    memory and copying as a sixth of the ring.
    """

    def __init__(self, batch: int, capacity: int, mirror: int, channels: int, like: torch.Tensor,
                 allocator=FRESH):
        self.data = allocator.empty((batch, capacity + mirror, channels), like)
        self.capacity, self.mirror, self.start, self.end = capacity, mirror, 0, 0

    @staticmethod
    def nbytes_for(batch: int, capacity: int, mirror: int, channels: int,
                   element_bytes: int) -> int:
        return batch * (capacity + mirror) * channels * element_bytes

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size()

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

    @staticmethod
    def nbytes_for(batch: int, channels: int, length: int, element_bytes: int) -> int:
        """Bytes of a buffer holding `length` samples (as a window's whole output does)."""
        return batch * max(length, 1) * channels * element_bytes

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


def held_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the storages behind `tensors` (each storage counted once, views included)."""
    storages = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


class Workspace:
    """Reused buffers for one tile of layer activations (fresh large buffers cost page faults).

    Attributes:
        layer_rows: two (B, size, 2R) buffers of a layer's input rows (its held rows, then the
            tile from the layer below). Layers take turns, so a layer's input, the output that
            the layer below wrote over its own rows, is never where its rows go.
        y: (B, capacity, 2R) pre-activations. u: the same with a padded row stride (`folded._gate`).
        z: (B, capacity, R) gated activations. y, u and z have GATE_SLACK rows more, which
            the gate may compute on (`gate_rows`).
    """

    def __init__(self, config, batch: int, capacity: int, *, device: torch.device,
                 dtype: torch.dtype, allocator=FRESH):
        width = config.residual_channels
        like = torch.empty(0, device=device, dtype=dtype)
        self.capacity = capacity
        self.layer_rows = [allocator.empty((batch, self._rows(config, capacity), 2 * width), like)
                           for _ in range(2)]
        gated = capacity + GATE_SLACK
        self.y = allocator.empty((batch, gated, 2 * width), like)
        self.u = allocator.empty((batch, gated, 2 * width + GATE_PAD), like)[..., : 2 * width]
        self.z = allocator.empty((batch, gated, width), like)

    @staticmethod
    def _rows(config, capacity: int) -> int:
        # A layer's held rows (twice its dilation), a tile and the padding at the end.
        return capacity + 4 * max(config.dilations)

    @classmethod
    def nbytes_for(cls, config, batch: int, capacity: int, element_bytes: int) -> int:
        """Bytes of the buffers for tiles of up to `capacity` samples of a denoiser `config`."""
        width = config.residual_channels
        rows = 2 * cls._rows(config, capacity) * 2 * width + (capacity + GATE_SLACK) * (
            2 * width + (2 * width + GATE_PAD) + width)
        return batch * rows * element_bytes

    @property
    def nbytes(self) -> int:
        return held_bytes(self.tensors())

    def tensors(self) -> list[torch.Tensor]:
        return [*self.layer_rows, self.y, self.u, self.z]

    def gate_rows(self, count: int) -> int:
        """Rows the gate computes for `count` output rows: so many that every thread's share
        of its elementwise ops is whole rows, or `count` where that takes too many.

        A thread that gets part of a row computes it in a scalar tail, which rounds otherwise
        than the vectorised body; then a sample's bits would depend on the tile and the thread
        count, and a stream (one thread) would not equal the offline output (two).
        """
        batch, threads = self.y.shape[0], torch.get_num_threads()
        for rows in range(count, count + GATE_SLACK + 1):
            if all(batch * rows % _threads_used(batch * rows * width, threads) == 0
                   for width in (self.y.shape[-1], self.z.shape[-1])):
                return rows
        return count

    def rows(self, layer: int, count: int) -> torch.Tensor:
        """`count` input rows for residual layer `layer`, grown if a backlog needs more."""
        slot = layer % 2
        if self.layer_rows[slot].shape[1] < count:
            # Views of the old buffer stay valid (they keep its storage alive).
            old = self.layer_rows[slot]
            self.layer_rows[slot] = old.new_empty(old.shape[0], 2 * count, old.shape[2])
        return self.layer_rows[slot][:, :count]


def _threads_used(elements: int, threads: int) -> int:
    """Threads an elementwise op over `elements` splits them between, in equal shares but the
    last (ATen's `parallel_for` over OpenMP)."""
    if elements < PARALLEL_GRAIN:
        return 1
    return min(threads, -(-elements // PARALLEL_GRAIN))
