"""Whether a stream keeps up: each block's compute time against the audio's own clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE


@dataclass
class StreamRun:
    """One input pushed through a stream in equal blocks.

    Attributes:
        audio: (2, T) the concatenated output.
        block_samples: samples per push. latency_samples: the stream's algorithmic latency.
        block_seconds: compute time of each push (the last entry is the flush).
        lag_seconds: how long after its audio arrived each push's output was ready (with
            `pace`, measured on the wall clock; else as if the blocks had arrived in real time).
    """

    audio: torch.Tensor
    block_samples: int
    latency_samples: int
    block_seconds: list[float] = field(default_factory=list)
    lag_seconds: list[float] = field(default_factory=list)

    @property
    def audio_seconds(self) -> float:
        return self.audio.shape[-1] / SAMPLE_RATE

    @property
    def rtf(self) -> float:
        """Compute seconds per audio second (below 1: faster than real time)."""
        return sum(self.block_seconds) / self.audio_seconds

    @property
    def worst_block_seconds(self) -> float:
        """The slowest push (the flush aside)."""
        return max(self.block_seconds[:-1], default=0.0)

    @property
    def kept_up(self) -> bool:
        """Whether every push finished before the next block's audio arrived."""
        return max(self.lag_seconds[:-1], default=0.0) <= self.block_samples / SAMPLE_RATE

    def summary(self) -> dict:
        return {"block_ms": 1000 * self.block_samples / SAMPLE_RATE,
                "latency_ms": 1000 * self.latency_samples / SAMPLE_RATE,
                "audio_s": self.audio_seconds, "rtf": self.rtf,
                "worst_block_ms": 1000 * self.worst_block_seconds,
                "max_lag_ms": 1000 * max(self.lag_seconds[:-1], default=0.0),
                "kept_up": self.kept_up}


def run_stream(pipeline, mono: torch.Tensor, positions: torch.Tensor, block_samples: int, *,
               generator: torch.Generator | None = None, pace: bool = False,
               **options) -> StreamRun:
    """Pushes `mono` (T,) and its (ceil(T / 400), 7) rows through `pipeline.stream(**options)`.

    Each block goes with the rows of the frames it starts. With `pace`, a block is pushed only
    once its audio would have arrived live (sleeping while ahead).
    """
    if block_samples < 1:
        raise ValueError(f"block_samples must be positive, got {block_samples}")
    stream = pipeline.stream(generator=generator, **options)
    run = StreamRun(audio=torch.empty(2, 0), block_samples=block_samples,
                    latency_samples=stream.latency_samples)
    outputs, rows_given, finished = [], 0, 0.0
    began = time.perf_counter()
    for first in range(0, len(mono), block_samples):
        last = min(first + block_samples, len(mono))
        arrival = last / SAMPLE_RATE
        if pace:
            time.sleep(max(0.0, began + arrival - time.perf_counter()))
        rows_due = min(len(positions), -(-last // FRAME_SAMPLES))
        start = time.perf_counter()
        outputs.append(stream.push(mono[first:last], positions[rows_given:rows_due]))
        _synchronize(outputs[-1])
        end = time.perf_counter()
        rows_given = rows_due
        run.block_seconds.append(end - start)
        finished = (end - began) if pace else max(arrival, finished) + end - start
        run.lag_seconds.append(finished - arrival)
    start = time.perf_counter()
    outputs.append(stream.push(mono[:0], positions[rows_given:]))
    outputs.append(stream.flush())
    _synchronize(outputs[-1])
    run.block_seconds.append(time.perf_counter() - start)
    run.lag_seconds.append(0.0)
    run.audio = torch.cat([out.cpu() for out in outputs], dim=1)
    return run


def _synchronize(tensor: torch.Tensor) -> None:
    if tensor.device.type == "cuda":
        torch.cuda.synchronize(tensor.device)
