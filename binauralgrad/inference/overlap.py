"""A stream's two stages on two threads: stage one runs a push ahead of stage two.

Stage two reads stage one's output, so in one push the stages run one after the other. Where
stage two reads only what stage one finished by the push before, the two run at once, each on
one core, and the stream returns its samples one push later. Each stage keeps its own state;
what they share is read only while both run: the stream's inputs (`StreamInputs.read_only`) and
a copy of stage one's output (`HandedOutput`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from binauralgrad.inference.buffers import SampleBuffer


class HandedOutput:
    """Stage one's output as stage two reads it while the stages overlap: a copy that grows
    between pushes by what stage one finished (stage one appends to its own output, and may
    move its rows, while stage two reads).

    It has what `StageStream(mean=...)` reads of stage one: `ready` and `output`.

    Args:
        source: stage one's `StageStream`.
    """

    def __init__(self, source):
        self.source = source
        data = source.output.data
        self.output = SampleBuffer(data.shape[0], data.shape[2], data)

    @property
    def ready(self) -> int:
        """Samples of stage one's output handed over."""
        return self.output.end

    def hand_over(self) -> None:
        """Copies what stage one finished since the last call; stage one forgets it."""
        if self.source.ready > self.output.end:
            self.output.append(self.source.output.rows(self.output.end, self.source.ready))
        self.source.output.trim(self.output.end)


class StageThread:
    """One worker thread for stage one: inference mode, one intra-op thread (as `one_thread`)."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="binauralgrad-stage-one",
                                        initializer=torch.set_num_threads, initargs=(1,))

    def start(self, work: Callable[[], object]) -> Future:
        """Runs `work()` on the thread; `.result()` waits for it (and raises what it raised)."""
        return self._pool.submit(_without_grad, work)

    def close(self) -> None:
        """Ends the thread (after the work it has)."""
        self._pool.shutdown(wait=True)


def _without_grad(work: Callable[[], object]):
    with torch.inference_mode():  # a thread's own mode: the caller's does not reach it
        return work()
