"""Speed: what synthesis costs in arithmetic, this machine's limit, and whether a stream keeps up.

The benchmark divides the cost by a run's time and compares the rate with the matrix products'
own (`gemm_limit`): how close a path comes to the machine's limit, whatever the CPU. A stream is
timed block by block against the audio's own clock (`run_stream`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.models.config import DenoiserConfig


def layer_flops(config: DenoiserConfig) -> tuple[int, int]:
    """Multiply-adds x 2 per sample of one residual layer: (dilated convolution, output)."""
    width = config.residual_channels
    return 2 * 3 * width * 2 * width, 2 * width * 2 * width


def synthesis_flops(configs: list[DenoiserConfig], num_steps: int) -> float:
    """Floating-point operations per output sample of both stages' `num_steps` passes.

    Counts the matrix products the fast path cannot avoid: every pass's dilated and output
    convolutions, skip and head projections, and each stage's conditioner projections once (as
    the conditioner cache computes them). Elementwise work and the small condition encoder are
    left out, so the rate it gives is a lower bound.
    """
    total = 0.0
    for config in configs:
        dilated, output = layer_flops(config)
        width = config.residual_channels
        per_pass = config.residual_layers * (dilated + output) + 2 * width * width \
            + 2 * width * config.out_channels
        projections = config.residual_layers * 2 * config.condition_channels * 2 * width
        total += num_steps * per_pass + projections
    return total


def _layer_products(config: DenoiserConfig, dtype: torch.dtype, rows: int) -> dict:
    """A residual layer's two products on random operands: name -> (left, right, out, flop)."""
    width = config.residual_channels
    generator = torch.Generator().manual_seed(0)
    products = {}
    for name, inner in (("dilated", 3 * width), ("output", width)):
        left = torch.randn(rows, inner, generator=generator).to(dtype)
        right = torch.randn(inner, 2 * width, generator=generator).to(dtype)
        products[name] = (left, right, torch.empty(rows, 2 * width, dtype=dtype),
                          2 * rows * inner * 2 * width)
    return products


def gemm_limit(config: DenoiserConfig, dtype: torch.dtype = torch.float32, rows: int = 4096,
               repeats: int = 20) -> dict:
    """This machine's peak matrix-product rate at the shapes of the model's residual layers.

    Times time-major (rows x 3R) @ (3R x 2R) and (rows x R) @ (R x 2R) products, as the dilated
    and output convolutions are, and weighs them as a layer does. Each product's fastest of
    `repeats` runs counts (a few milliseconds each: fewer let a slow spell lower the limit, and
    every rate measured against it look closer to it than it is). A CPU keeps such a rate for
    milliseconds, not for a synthesis's seconds (`sustained_gemm_rate`).

    Returns:
        {"dilated": GFLOP/s, "output": GFLOP/s, "layer": GFLOP/s of the two in a layer's mix}.
    """
    rates = {}
    for name, (left, right, out, flop) in _layer_products(config, dtype, rows).items():
        for _ in range(2):  # warm-up
            torch.matmul(left, right, out=out)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(left, right, out=out)
            best = min(best, time.perf_counter() - start)
        rates[name] = flop / best / 1e9
    dilated, output = layer_flops(config)
    rates["layer"] = (dilated + output) / (dilated / rates["dilated"] + output / rates["output"])
    return rates


def sustained_gemm_rate(config: DenoiserConfig, dtype: torch.dtype = torch.float32,
                        seconds: float = 3.0, rows: int = 4096) -> float:
    """GFLOP/s of a layer's two products (`gemm_limit`'s) run back to back for `seconds`.

    What the products keep up over seconds, as a synthesis must, where `gemm_limit`'s fastest
    few milliseconds catch the CPU at its best moment (on a 2-core AMD EPYC guest of a busy
    host, 2-27 % above this). The benchmark measures it in turns with the runs it rates.
    """
    products = list(_layer_products(config, dtype, rows).values())
    for left, right, out, _ in products:  # warm-up
        torch.matmul(left, right, out=out)
    work, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or not work:
        for left, right, out, flop in products:
            torch.matmul(left, right, out=out)
            work += flop
    return work / elapsed / 1e9


@dataclass
class StreamRun:
    """One input pushed through a stream in equal blocks.

    Attributes:
        audio: (2, T) the concatenated output.
        block_samples: samples per push. latency_samples: how far the output lags the input
            at this block size: the stream's algorithmic latency, and a push more where its
            stages overlapped (`overlap`, `BinauralStream.overlap`).
        block_seconds: compute time of each push (the last entry is the flush).
        lag_seconds: how long after its audio arrived each push's output was ready (with
            `pace`, measured on the wall clock; else as if the blocks had arrived in real time).
    """

    audio: torch.Tensor
    block_samples: int
    latency_samples: int
    overlap: bool = False
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
    def p95_block_seconds(self) -> float:
        """The push time that 95 % of pushes stay within (the flush aside)."""
        pushes = sorted(self.block_seconds[:-1])
        return pushes[min(len(pushes) - 1, math.ceil(0.95 * len(pushes)) - 1)] if pushes else 0.0

    @property
    def on_time_share(self) -> float:
        """The share of pushes whose output was ready before the next block's audio arrived."""
        lags = self.lag_seconds[:-1]
        block = self.block_samples / SAMPLE_RATE
        return sum(lag <= block for lag in lags) / len(lags) if lags else 1.0

    @property
    def kept_up(self) -> bool:
        """Whether every push finished before the next block's audio arrived."""
        return max(self.lag_seconds[:-1], default=0.0) <= self.block_samples / SAMPLE_RATE

    @property
    def real_time(self) -> bool:
        """A live source is served: RTF below 1 and 95 % of pushes on time. (`kept_up` asks
        for every push; one stall from the machine's other work breaks that, not this.)"""
        return self.rtf < 1.0 and self.on_time_share >= 0.95

    def summary(self) -> dict:
        return {"block_ms": 1000 * self.block_samples / SAMPLE_RATE,
                "latency_ms": 1000 * self.latency_samples / SAMPLE_RATE,
                "audio_s": self.audio_seconds, "rtf": self.rtf,
                "worst_block_ms": 1000 * self.worst_block_seconds,
                "p95_block_ms": 1000 * self.p95_block_seconds,
                "on_time_share": self.on_time_share, "real_time": self.real_time,
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
    # Overlapped stages (an automatic overlap may end at the first push) return their samples
    # a push later.
    run.overlap = stream.overlap
    run.latency_samples += block_samples * stream.overlap
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
