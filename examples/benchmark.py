"""Speed of the parts that matter: the geometric warp, training steps and synthesis.

    python examples/benchmark.py            # paper-size models (about 25 minutes on 2 CPU cores)
    python examples/benchmark.py --quick    # shorter inputs, fewer lines
    python examples/benchmark.py --skip warp training --json bench.json

Synthesis lines: the real-time factor (RTF, compute seconds per audio second) of the two-stage
fast (6 + 6 step) pipeline, and for each optimisation its speed ratio against the
straightforward path (`implementation="reference"`) measured in the same run on the same input,
with the max / mean absolute deviation of its output from that path's float32 output on the same
noise. The models have random weights (no released checkpoint is needed for speed), with a
non-zero output layer so that deviations are not trivially zero. Peak memory is the resident-set
high-water mark of a fresh process per input length. Ratios are measured within one run (shared
machines are noisy); the variants take turns for `--repeats` rounds and each keeps its best.

The straightforward path's long passes allocate activations of about 50 MB per second of audio,
which glibc maps as fresh pages every time; an allocator that keeps its memory (for instance
MALLOC_TOP_PAD_=2147483648 MALLOC_TRIM_THRESHOLD_=8589934592) makes them about 3x faster, so
the whole-input ratios depend on the allocator. The fast path's tiles are small either way.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig, NoiseSchedule
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.dsp import geometric_warp
from binauralgrad.inference.backends import cpu_bf16_supported
from binauralgrad.inference.memory import MIN_TILE, estimate_memory
from binauralgrad.inference.options import CPU_TILE_S
from binauralgrad.training.config import MODEL_SIZES
from binauralgrad.training.throughput import measure_training_throughput

SECTIONS = ("warp", "training", "default", "equal-length", "whole-input", "chunking", "gpu",
            "memory")


def best_time(function, repeats: int) -> float:
    """Fewest seconds of `repeats` calls (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def warp_speed(seconds: float, repeats: int) -> dict:
    """Seconds to warp `seconds` of 48 kHz mono audio on the CPU."""
    generator = torch.Generator().manual_seed(0)
    mono = 0.1 * torch.randn(1, 1, int(seconds * SAMPLE_RATE), generator=generator)
    positions = torch.randn(1, 7, int(seconds * 120), generator=generator) + 1.0
    geometric_warp(mono[..., :4000], positions[..., :10])  # warm-up
    elapsed = best_time(lambda: geometric_warp(mono, positions), repeats)
    return {"audio_s": seconds, "seconds": elapsed, "realtime_factor": elapsed / seconds}


def training_speed(size: str, batch: int, clip: int, steps: int, device: str) -> list[dict]:
    """Samples per second of both stages' training steps (full loss, backward, Adam)."""
    rows = []
    for stage in (1, 2):
        report = measure_training_throughput(size, batch, clip, steps, stage=stage, device=device)
        rows.append({"stage": stage, "size": size, "device": device, **report})
    return rows


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


def variant_rows(pipeline, seconds: float, variants: dict[str, dict], repeats: int) -> list[dict]:
    """RTF of each variant of the pipeline on one input, against the first (the yardstick).

    The variants take turns, `repeats` rounds, and each keeps its best time: a slow spell of a
    shared machine then falls on all of them rather than on whichever ran through it.
    """
    mono, positions = test_signal(seconds)
    for options in variants.values():
        if options.get("compile") or pipeline.device.type == "cuda":
            synthesize(pipeline, mono, positions, **options)  # warm-up (and compilation)
    times = {name: [] for name in variants}
    outputs = {}
    for _ in range(repeats):
        for name, options in variants.items():
            start = time.perf_counter()
            outputs[name] = synthesize(pipeline, mono, positions, **options).float().cpu()
            times[name].append(time.perf_counter() - start)
    baseline = next(iter(variants))
    rows = []
    for name in variants:
        elapsed, deviation = min(times[name]), (outputs[name] - outputs[baseline]).abs()
        rows.append({"variant": name, "audio_s": seconds, "seconds": elapsed,
                     "rtf": elapsed / seconds, "speedup": min(times[baseline]) / elapsed,
                     "max_dev": deviation.max().item(), "mean_dev": deviation.mean().item()})
    return rows


def default_model_rows(seconds: float, repeats: int) -> list[dict]:
    """The embedded default pipeline (trained weights) on the CPU: wavefront against reference."""
    from binauralgrad.constants import DEFAULT_MODEL_DIR

    pipeline = BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    variants = {"embedded default, straightforward float32 (reference)":
                {"implementation": "reference"},
                "embedded default, wavefront float32 (default)": {}}
    return variant_rows(pipeline, seconds, variants, repeats)


def no_cache_budget_mb(size: str) -> float:
    """A working-memory budget the wavefront fits at its default CPU tile only without the
    conditioner cache (which then projects the condition again in every pass)."""
    sizes = MODEL_SIZES[size]
    configs = [DenoiserConfig.stage_one(**sizes), DenoiserConfig.stage_two(**sizes)]
    tile, steps = round(CPU_TILE_S * SAMPLE_RATE), len(NoiseSchedule().sampling_steps(True))
    without = estimate_memory(configs, steps, tile=tile, batch=1, element_bytes=4, cache=False)
    least_with = estimate_memory(configs, steps, tile=MIN_TILE, batch=1, element_bytes=4,
                                 cache=True)
    if not without < least_with:
        raise RuntimeError(f"no budget separates the cached and uncached wavefronts of {size}")
    return (without + least_with) / 2 / 2**20


def equal_length_rows(size: str, seconds: float, repeats: int) -> list[dict]:
    """Optimisations at equal chunk length: every path sees the same `seconds` of input."""
    variants = {
        "straightforward float32 (reference)": {"implementation": "reference"},
        "fast float32, one tile = the whole chunk": {"tile_seconds": seconds},
        "fast float32, wavefront (default)": {},
        "fast float32, no conditioner cache": {"max_memory_mb": no_cache_budget_mb(size)},
        "fast float32, compiled gate": {"compile": True},
    }
    if cpu_bf16_supported():
        variants["fast bfloat16, wavefront"] = {"dtype": torch.bfloat16}
    return variant_rows(pipeline_of(size), seconds, variants, repeats)


def whole_input_rows(size: str, seconds: float) -> list[dict]:
    """The default pipeline against passes over the whole input, as the original runs them."""
    variants = {"straightforward float32, whole-input passes": {"implementation": "reference"},
                "fast float32, default": {}}
    if cpu_bf16_supported():
        variants["fast bfloat16, default"] = {"dtype": torch.bfloat16}
    return variant_rows(pipeline_of(size), seconds, variants, 1)


def chunking_rows(size: str, seconds: float, chunk_s: float) -> list[dict]:
    """Overlapping chunks against the unchunked wavefront (each chunk is sampled with its own
    context, so chunks cost their overlap in compute; on a CPU they buy batching, not speed)."""
    pipeline = pipeline_of(size)
    exact = pipeline.receptive_field_seconds() + 0.05  # the field plus half the 0.1 s fade
    variants = {"fast float32, unchunked wavefront": {},
                f"chunks of {chunk_s:g} s, overlap 0.25 s (default), fade 0.05 s":
                    {"chunk_seconds": chunk_s},
                f"chunks of {chunk_s:g} s, overlap {exact:.2f} s (exact), fade 0.1 s":
                    {"chunk_seconds": chunk_s, "overlap_seconds": exact,
                     "crossfade_seconds": 0.1}}
    return variant_rows(pipeline, seconds, variants, 1)


def gpu_rows(size: str, seconds: float, repeats: int) -> list[dict]:
    """The pipeline on a CUDA GPU in float32, bfloat16, float16 and compiled."""
    variants = {"straightforward float32 (reference)": {"implementation": "reference"},
                "fast float32": {}, "fast bfloat16": {"dtype": torch.bfloat16},
                "fast float16": {"dtype": torch.float16},
                "fast bfloat16, compiled": {"dtype": torch.bfloat16, "compile": True}}
    rows = variant_rows(pipeline_of(size, "cuda"), seconds, variants, repeats)
    for row in rows:
        row["device"] = torch.cuda.get_device_name()
    return rows


def peak_memory_mb(size: str, seconds: float, stop_after_s: float | None) -> float:
    """Resident-set high-water mark (MB) of a fresh process synthesising `seconds` of audio.

    With `stop_after_s`, the process stops once that much output is done: the wavefront's
    working set is complete after about a second of output (it stays flat from there), so long
    inputs need not be synthesised to the end to measure it. The whole-signal arrays (inputs,
    warp, outputs) are allocated up front, so they are counted either way.
    """
    command = [sys.executable, __file__, "--memory-child", size, str(seconds), str(stop_after_s)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def memory_child(size: str, seconds: float, stop_after_s: float | None) -> None:
    import binauralgrad.inference.sampler as sampler_module

    class Stop(Exception):
        pass

    wavefront = sampler_module.run_wavefront

    def stopping(*args, on_progress, **kwargs):
        def report(done: int) -> None:
            on_progress(done)
            if stop_after_s is not None and done >= stop_after_s * SAMPLE_RATE:
                raise Stop

        return wavefront(*args, on_progress=report, **kwargs)

    sampler_module.run_wavefront = stopping
    mono, positions = test_signal(seconds)
    try:
        synthesize(pipeline_of(size), mono, positions)
    except Stop:
        pass
    print(resident_peak_mb())


def resident_peak_mb() -> float:
    """This process's resident-set high-water mark in MB.

    Linux's VmHWM belongs to the process's own address space; getrusage's ru_maxrss is carried
    across exec from the forking parent, so a child of a large benchmark process would report
    the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def memory_rows(size: str, lengths: list[float], stop_after_s: float | None) -> list[dict]:
    rows = [{"size": size, "audio_s": seconds, "stopped_after_s": stop_after_s,
             "peak_mb": peak_memory_mb(size, seconds, stop_after_s)} for seconds in lengths]
    for row in rows:
        row["ratio_to_first"] = row["peak_mb"] / rows[0]["peak_mb"]
    return rows


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n| variant | audio s | RTF | speed-up | max dev | mean dev |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['variant']} | {row['audio_s']:g} | {row['rtf']:.2f} | "
              f"{row['speedup']:.2f}x | {row['max_dev']:.2e} | {row['mean_dev']:.2e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter inputs, fewer lines")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of each timing; the best counts (default %(default)s)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS,
                        help="sections to leave out")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        size, seconds, stop = args.memory_child
        memory_child(size, float(seconds), None if stop == "None" else float(stop))
        return
    quick, results = args.quick, {}
    if "warp" not in args.skip:
        results["warp"] = warp_speed(60.0, args.repeats)
        print(f"geometric warp, 60 s of audio on CPU: {results['warp']['seconds']:.3f} s")
    if "training" not in args.skip:
        results["training"] = []
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            batch, clip = (2, 16000) if device == "cpu" else (12, 32000)
            size = "small" if quick else "paper"
            for row in training_speed(size, batch, clip, 1 if quick else 2, device):
                results["training"].append(row)
                print(f"training, {size} stage {row['stage']} on {device}: "
                      f"{row['samples_per_s']:.2f} samples/s ({batch} x {clip} samples a step)")
    if "default" not in args.skip:
        results["default"] = default_model_rows(2.0 if quick else 10.0, args.repeats)
        print_rows("Synthesis, the embedded default model, CPU", results["default"])
    if "equal-length" not in args.skip:
        results["equal_length"] = equal_length_rows("paper", 0.25 if quick else 0.5, args.repeats)
        print_rows("Synthesis, paper size, CPU, equal chunk length", results["equal_length"])
    if "whole-input" not in args.skip:
        results["whole_input"] = whole_input_rows("paper", 1.0 if quick else 2.0)
        print_rows("Synthesis, paper size, CPU, against whole-input passes",
                   results["whole_input"])
    if "chunking" not in args.skip and not quick:
        results["chunking"] = chunking_rows("paper", 3.0, 1.0)
        print_rows("Synthesis, paper size, CPU, overlapping chunks", results["chunking"])
    if "gpu" not in args.skip and torch.cuda.is_available():
            results["gpu"] = gpu_rows("paper", 10.0 if quick else 30.0, args.repeats)
            print_rows(f"Synthesis, paper size, {torch.cuda.get_device_name()}", results["gpu"])
    if "memory" not in args.skip:
        lengths = [10.0, 60.0]
        results["memory"] = memory_rows("paper", lengths, 1.5) + \
            memory_rows("small", lengths, None if not quick else 1.5)
        print("\nPeak memory (resident set, fresh process per length)\n"
              "| model | audio s | stopped after | peak MB | ratio |\n"
              "| --- | --- | --- | --- | --- |")
        for row in results["memory"]:
            print(f"| {row['size']} | {row['audio_s']:g} | {row['stopped_after_s']} | "
                  f"{row['peak_mb']:.0f} | {row['ratio_to_first']:.2f} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
