"""The benchmark's yardstick: random-weight pipelines, a test signal, variants timed in turns."""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.evaluation.speed import sustained_gemm_rate, synthesis_flops
from binauralgrad.inference import tuning
from binauralgrad.inference.timing import turn_order
from binauralgrad.training.config import MODEL_SIZES

# What a measurement in a fresh process runs, with a child's hidden option (--memory-child,
# --tuning-child).
SCRIPT = Path(__file__).resolve().parent.parent / "benchmark.py"


def best_time(function, repeats: int) -> float:
    """Fewest seconds of `repeats` calls (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def pipeline_of(size: str, device: str = "cpu", dtype: torch.dtype = torch.float32
                ) -> BinauralGradPipeline:
    """Random weights of a model size; the output layer too (it starts at zero otherwise)."""
    sizes = MODEL_SIZES[size]
    torch.manual_seed(0)
    stages = [BinauralDenoiser(DenoiserConfig.stage_one(**sizes)),
              BinauralDenoiser(DenoiserConfig.stage_two(**sizes))]
    for stage in stages:
        torch.nn.init.kaiming_normal_(stage.output_projection.weight)
    return BinauralGradPipeline(*stages).to(device, dtype)


def test_signal(seconds: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Speech-like mono and a talker walking past the listener.

    Made a second at a time, so that a long input weighs in the memory figures no more than the
    same audio read from a file.
    """
    length = int(seconds * SAMPLE_RATE)
    mono, phase = torch.empty(length), 0.0
    for first in range(0, length, SAMPLE_RATE):
        time_axis = torch.arange(first, min(first + SAMPLE_RATE, length),
                                 dtype=torch.float64) / SAMPLE_RATE
        pitch = 120 + 20 * torch.sin(2 * torch.pi * 1.5 * time_axis)  # Hz
        phases = phase + torch.cumsum(2 * torch.pi * pitch / SAMPLE_RATE, 0)
        phase = phases[-1].item()
        voice = sum(torch.sin(harmonic * phases) / harmonic for harmonic in range(1, 6))
        envelope = 0.05 * (1 - torch.cos(2 * torch.pi * 4 * time_axis))
        mono[first: first + len(time_axis)] = voice * envelope
    frames = -(-length // FRAME_SAMPLES)
    positions = torch.tensor([[1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0]]).repeat(frames, 1)
    positions[:, 1] += torch.linspace(-1.0, 1.0, frames)
    return mono, positions


def synthesize(pipeline, mono, positions, **options) -> torch.Tensor:
    (audio,) = pipeline(mono, positions, generator=torch.Generator().manual_seed(0),
                        progress=False, return_dict=False, **options)
    if audio.device.type == "cuda":
        torch.cuda.synchronize()
    return audio


@contextlib.contextmanager
def variant_setting(setting: str | None):
    """Runs a variant under a BINAURALGRAD_TUNING setting ("cache=0", "backend=matmul", ...)."""
    before = os.environ.get(tuning.TUNING_ENV)
    if setting is not None:
        os.environ[tuning.TUNING_ENV] = setting
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(tuning.TUNING_ENV, None)
        else:
            os.environ[tuning.TUNING_ENV] = before


def variant_rows(pipeline, seconds: float, variants: dict[str, dict], repeats: int,
                 limits: Mapping[torch.dtype, float] | None = None,
                 limit_seconds: float = 3.0) -> list[dict]:
    """RTF of each variant of the pipeline on one input, against the first (the yardstick).

    The variants take turns, `repeats` rounds (in `timing.turn_order`: every other one
    reversed), and each keeps its best time: a slow spell of a shared machine then falls on all
    of them rather than on whichever ran through it. Each variant runs on its own pipeline (the
    same stages), which keeps that variant's buffers from one round to the next as a user's
    pipeline does from call to call: sharing one, each variant would find the previous
    variant's buffers and fault in fresh ones. A variant's "setting" key runs it under
    `variant_setting`.

    With `limits` (peak GFLOP/s per compute dtype, `gemm_limit`), each row also gets the
    arithmetic rate it reached (`synthesis_flops`) and its fraction of the matrix products' own
    rate in its dtype (a bfloat16 row against the bfloat16 products', not float32's): "of_limit"
    against what they keep up for `limit_seconds` (`sustained_gemm_rate`), measured in each
    round before the variants and kept at its best as their times are, and "of_peak" against
    the peak.
    """
    mono, positions = test_signal(seconds)
    pipelines = {name: copy.copy(pipeline) for name in variants}
    variants = {name: dict(options) for name, options in variants.items()}
    settings = {name: options.pop("setting", None) for name, options in variants.items()}
    for name, options in variants.items():
        if pipeline.device.type == "cuda":
            with variant_setting(settings[name]):
                synthesize(pipelines[name], mono, positions, **options)  # warm-up
    times = {name: [] for name in variants}
    sustained = dict.fromkeys(limits or {}, 0.0)
    outputs = {}
    for round_ in range(repeats):
        for dtype in sustained:
            rate = sustained_gemm_rate(pipeline.stage_one.config, dtype, limit_seconds)
            sustained[dtype] = max(sustained[dtype], rate)
        for name in turn_order(list(variants), round_):
            with variant_setting(settings[name]):
                start = time.perf_counter()
                outputs[name] = synthesize(pipelines[name], mono, positions,
                                           **variants[name]).float().cpu()
                times[name].append(time.perf_counter() - start)
    baseline = next(iter(variants))
    configs = [pipeline.stage_one.config, pipeline.stage_two.config]
    work = synthesis_flops(configs, len(pipeline.schedule.sampling_steps("fast"))) \
        * seconds * SAMPLE_RATE
    rows = []
    for name in variants:
        elapsed, deviation = min(times[name]), (outputs[name] - outputs[baseline]).abs()
        row = {"variant": name, "audio_s": seconds, "seconds": elapsed,
               "rtf": elapsed / seconds, "speedup": min(times[baseline]) / elapsed,
               "max_dev": deviation.max().item(), "mean_dev": deviation.mean().item(),
               "gflops": work / elapsed / 1e9}
        dtype = variants[name].get("dtype") or torch.float32
        if dtype in sustained:
            row["limit_dtype"] = str(dtype).removeprefix("torch.")
            row["limit_gflops"], row["peak_gflops"] = sustained[dtype], limits[dtype]
            row["of_limit"] = row["gflops"] / sustained[dtype]
            row["of_peak"] = row["gflops"] / limits[dtype]
        rows.append(row)
    return rows


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n| variant | audio s | RTF | speed-up | GFLOP/s | of limit | of peak | "
          "max dev | mean dev |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    limits = {}
    for row in rows:
        limit, peak = (f"{row[key]:.0%}" if key in row else "-" for key in ("of_limit", "of_peak"))
        if "limit_gflops" in row:
            limits[row["limit_dtype"]] = row["limit_gflops"], row["peak_gflops"]
        print(f"| {row['variant']} | {row['audio_s']:g} | {row['rtf']:.2f} | "
              f"{row['speedup']:.2f}x | {row['gflops']:.0f} | {limit} | {peak} | "
              f"{row['max_dev']:.2e} | {row['mean_dev']:.2e} |")
    for dtype, (limit, peak) in limits.items():
        print(f"{dtype} rows: of limit against the matrix products' {limit:.0f} GFLOP/s kept up "
              f"in turns with the runs, of peak against their fastest moment, {peak:.0f} GFLOP/s")
