"""Run-time helpers of the loop: throughput between logs, and SIGTERM turned into a flag."""

from __future__ import annotations

import signal
import threading
import time


class Throughput:
    """Steps and samples per second since the previous log."""

    def __init__(self, step: int):
        self.step, self.time = step, time.perf_counter()

    def rates(self, step: int, batch_size: int) -> dict[str, float]:
        now = time.perf_counter()
        steps_per_s = (step - self.step) / max(now - self.time, 1e-9)
        self.step, self.time = step, now
        return {"train/steps_per_s": steps_per_s, "train/samples_per_s": steps_per_s * batch_size}


class SignalFlag:
    """Records a signal instead of dying, so the step in progress finishes and is checkpointed."""

    def __init__(self, signum: int):
        self.raised = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        self.raised = True

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
