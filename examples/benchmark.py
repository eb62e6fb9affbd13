"""Speed of the parts that matter: the geometric warp, training steps and synthesis.

    python examples/benchmark.py            # paper-size models (about 25 minutes on 2 CPU cores)
    python examples/benchmark.py --quick    # shorter inputs, fewer lines
    python examples/benchmark.py --skip warp training --json bench.json
    python examples/benchmark.py --only stream          # the streaming table alone

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
import contextlib
import json
import os
import resource
import subprocess
import sys
import time

import torch

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.dsp import geometric_warp
from binauralgrad.inference import tuning
from binauralgrad.inference.backends import cpu_bf16_supported
from binauralgrad.inference.cost import gemm_limit, synthesis_flops
from binauralgrad.inference.folded import FastDenoiser, Workspace
from binauralgrad.training.config import MODEL_SIZES
from binauralgrad.training.throughput import measure_training_throughput

SECTIONS = ("warp", "training", "machine", "default", "equal-length", "whole-input", "chunking",
            "gpu", "memory", "stream")
STREAM_BLOCKS_MS = (10, 20, 50)


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


@contextlib.contextmanager
def variant_setting(setting: str | None):
    """Runs a variant under a BINAURALGRAD_TUNING setting ("cache=0", ...), or "no chain": the
    layer chain without room below, so that every layer's rows are copied (as in the tests)."""
    if setting == "no chain":
        original = FastDenoiser.workspace

        def cramped(self, batch, capacity):
            work = Workspace(self, batch, capacity)
            work.front, work.chain = 0, work.chain[:, :1]
            return work

        FastDenoiser.workspace = cramped
        try:
            yield
        finally:
            FastDenoiser.workspace = original
        return
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
                 limit_gflops: float | None = None) -> list[dict]:
    """RTF of each variant of the pipeline on one input, against the first (the yardstick).

    The variants take turns, `repeats` rounds, and each keeps its best time: a slow spell of a
    shared machine then falls on all of them rather than on whichever ran through it. A
    variant's "setting" key runs it under `variant_setting`. With `limit_gflops`, each row also
    gets the arithmetic rate it reached (`synthesis_flops`) and its fraction of that limit.
    """
    mono, positions = test_signal(seconds)
    variants = {name: dict(options) for name, options in variants.items()}
    settings = {name: options.pop("setting", None) for name, options in variants.items()}
    for name, options in variants.items():
        if pipeline.device.type == "cuda":
            with variant_setting(settings[name]):
                synthesize(pipeline, mono, positions, **options)  # warm-up
    times = {name: [] for name in variants}
    outputs = {}
    for _ in range(repeats):
        for name, options in variants.items():
            with variant_setting(settings[name]):
                start = time.perf_counter()
                outputs[name] = synthesize(pipeline, mono, positions, **options).float().cpu()
                times[name].append(time.perf_counter() - start)
    baseline = next(iter(variants))
    configs = [pipeline.stage_one.config, pipeline.stage_two.config]
    work = synthesis_flops(configs, len(pipeline.schedule.sampling_steps(True))) \
        * seconds * SAMPLE_RATE
    rows = []
    for name in variants:
        elapsed, deviation = min(times[name]), (outputs[name] - outputs[baseline]).abs()
        row = {"variant": name, "audio_s": seconds, "seconds": elapsed,
               "rtf": elapsed / seconds, "speedup": min(times[baseline]) / elapsed,
               "max_dev": deviation.max().item(), "mean_dev": deviation.mean().item(),
               "gflops": work / elapsed / 1e9}
        if limit_gflops:
            row["of_limit"] = row["gflops"] / limit_gflops
        rows.append(row)
    return rows


def machine_rows(size: str) -> dict:
    """The machine's matrix-product limit at a model size's shapes, and its tuning measured
    afresh (and stored, so that the synthesis lines below run with it)."""
    config = DenoiserConfig.stage_one(**MODEL_SIZES[size])
    denoiser = BinauralDenoiser(config)
    result = {"size": size, "capability": torch.backends.cpu.get_cpu_capability(),
              "float32": gemm_limit(config)}
    if cpu_bf16_supported():
        result["bfloat16"] = gemm_limit(config, torch.bfloat16)
        tuning.store(denoiser, torch.bfloat16, tuning.measure(denoiser, torch.bfloat16)[0])
    choice, timings = tuning.measure(denoiser, torch.float32)
    tuning.store(denoiser, torch.float32, choice)
    result["choice"], result["timings"] = vars(choice), timings
    return result


def default_model_rows(seconds: float, repeats: int) -> list[dict]:
    """The embedded default pipeline (trained weights) on the CPU: wavefront against reference."""
    from binauralgrad.constants import DEFAULT_MODEL_DIR

    pipeline = BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    variants = {"embedded default, straightforward float32 (reference)":
                {"implementation": "reference"},
                "embedded default, wavefront float32 (default)": {}}
    return variant_rows(pipeline, seconds, variants, repeats)


def equal_length_rows(size: str, seconds: float, repeats: int,
                      limit_gflops: float | None = None) -> list[dict]:
    """Optimisations at equal chunk length: every path sees the same `seconds` of input.

    The default is this machine's tuned choice; each other row forces one piece of it.
    """
    variants = {
        "straightforward float32 (reference)": {"implementation": "reference"},
        "fast float32, wavefront (default: tuned)": {},
        "fast float32, one tile = the whole chunk": {"tile_seconds": seconds},
        "fast float32, conditioner cache on": {"setting": "cache=1"},
        "fast float32, conditioner cache off": {"setting": "cache=0"},
        "fast float32, matmul kernels": {"setting": "backend=matmul"},
        "fast float32, no layer chain (rows copied)": {"setting": "no chain"},
        "fast float32, untuned (built-in defaults)": {"setting": "off"},
    }
    if cpu_bf16_supported():
        variants["fast bfloat16, wavefront"] = {"dtype": torch.bfloat16}
    return variant_rows(pipeline_of(size), seconds, variants, repeats, limit_gflops)


def whole_input_rows(size: str, seconds: float, limit_gflops: float | None = None
                     ) -> list[dict]:
    """The default pipeline against passes over the whole input, as the original runs them."""
    variants = {"straightforward float32, whole-input passes": {"implementation": "reference"},
                "fast float32, default": {}}
    if cpu_bf16_supported():
        variants["fast bfloat16, default"] = {"dtype": torch.bfloat16}
    return variant_rows(pipeline_of(size), seconds, variants, 1, limit_gflops)


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
    """The pipeline on a CUDA GPU in float32, bfloat16 and float16."""
    variants = {"straightforward float32 (reference)": {"implementation": "reference"},
                "fast float32": {}, "fast bfloat16": {"dtype": torch.bfloat16},
                "fast float16": {"dtype": torch.float16}}
    rows = variant_rows(pipeline_of(size, "cuda"), seconds, variants, repeats)
    for row in rows:
        row["device"] = torch.cuda.get_device_name()
    return rows


def stream_models(names, seconds: float, paper_seconds: float, device: str) -> list[tuple]:
    """(name, pipeline, dtype, audio seconds) per streamed model: "default" and "live" (the
    embedded models, float32 and bfloat16 where native), "paper" and "tiny" (random weights)."""
    from binauralgrad.constants import DEFAULT_MODEL_DIR, LIVE_MODEL_DIR

    models = []
    for name, folder in (("default", DEFAULT_MODEL_DIR), ("live", LIVE_MODEL_DIR)):
        if name in names:
            embedded = BinauralGradPipeline.from_pretrained(folder, device=device)
            models.append((f"embedded {name}", embedded, torch.float32, seconds))
            if device == "cuda" or cpu_bf16_supported():
                models.append((f"embedded {name}", embedded, torch.bfloat16, seconds))
    if "paper" in names:
        models.append(("paper size", pipeline_of("paper", device), torch.float32, paper_seconds))
    if "tiny" in names:
        models.append(("tiny size", pipeline_of("tiny", device), torch.float32, seconds))
    return models


def stream_rows(seconds: float, paper_seconds: float, device: str = "cpu",
                blocks_ms=STREAM_BLOCKS_MS, names=("default", "live", "paper", "tiny")
                ) -> list[dict]:
    """The stream (`pipe.stream()`) per model and block size: its algorithmic latency, RTF
    (compute seconds per audio second, flush included) and slowest push, with blocks fed as
    fast as it takes them. Its output is checked against the offline pipeline's."""
    from binauralgrad.inference.stream_timing import run_stream

    models = stream_models(names, seconds, paper_seconds, device)
    rows = []
    for name, pipeline, dtype, length in models:
        mono, positions = test_signal(length)
        reference = synthesize(pipeline, mono, positions, dtype=dtype).float().cpu()
        for block_ms in blocks_ms:
            run = run_stream(pipeline, mono, positions, round(block_ms * SAMPLE_RATE / 1000),
                             generator=torch.Generator().manual_seed(0), dtype=dtype)
            rows.append({"model": name, "dtype": str(dtype).split(".")[-1], "device": device,
                         **run.summary(),
                         "max_dev": (run.audio - reference).abs().max().item()})
    return rows


def print_stream(rows: list[dict]) -> None:
    print("\nStreaming (blocks pushed as fast as the stream takes them)\n| model | dtype | device |"
          " latency ms | block ms | RTF | worst block ms | real time | max dev vs offline |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['model']} | {row['dtype']} | {row['device']} | {row['latency_ms']:.1f} | "
              f"{row['block_ms']:g} | {row['rtf']:.2f} | {row['worst_block_ms']:.1f} | "
              f"{'yes' if row['kept_up'] else 'no'} | {row['max_dev']:.1e} |")


def peak_memory_mb(size: str, seconds: float, stop_after_s: float | None,
                   setting: str | None = None) -> float:
    """Resident-set high-water mark (MB) of a fresh process synthesising `seconds` of audio.

    With `stop_after_s`, the process stops once that much output is done: the wavefront's
    working set is complete after about a second of output (it stays flat from there), so long
    inputs need not be synthesised to the end to measure it. The whole-signal arrays (inputs,
    warp, outputs) are allocated up front, so they are counted either way.
    """
    command = [sys.executable, __file__, "--memory-child", size, str(seconds), str(stop_after_s)]
    env = dict(os.environ)
    if setting is not None:  # a BINAURALGRAD_TUNING setting, such as "cache=0"
        env[tuning.TUNING_ENV] = setting
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
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


def memory_rows(size: str, lengths: list[float], stop_after_s: float | None,
                setting: str | None = None) -> list[dict]:
    rows = [{"size": size if setting is None else f"{size}, {setting}", "audio_s": seconds,
             "stopped_after_s": stop_after_s,
             "peak_mb": peak_memory_mb(size, seconds, stop_after_s, setting)}
            for seconds in lengths]
    for row in rows:
        row["ratio_to_first"] = row["peak_mb"] / rows[0]["peak_mb"]
    return rows


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n| variant | audio s | RTF | speed-up | GFLOP/s | of limit | max dev | "
          "mean dev |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        limit = f"{row['of_limit']:.0%}" if "of_limit" in row else "-"
        print(f"| {row['variant']} | {row['audio_s']:g} | {row['rtf']:.2f} | "
              f"{row['speedup']:.2f}x | {row['gflops']:.0f} | {limit} | {row['max_dev']:.2e} | "
              f"{row['mean_dev']:.2e} |")


def print_machine(machine: dict) -> None:
    print(f"\nMachine: {tuning.machine_key(BinauralDenoiser(DenoiserConfig()), torch.float32)}")
    for dtype in ("float32", "bfloat16"):
        if dtype in machine:
            rates = machine[dtype]
            print(f"matrix-product limit, {dtype}, {machine['size']} size shapes: "
                  f"{rates['layer']:.0f} GFLOP/s (dilated {rates['dilated']:.0f}, output "
                  f"{rates['output']:.0f})")
    print(f"tuned choice: {machine['choice']}\n| kernels | tile | cache | us per sample-pass |\n"
          "| --- | --- | --- | --- |")
    for row in machine["timings"]:
        print(f"| {row['backend']} | {row['tile']} | {row['cache']} | "
              f"{row['seconds_per_sample'] * 1e6:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter inputs, fewer lines")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of each timing; the best counts (default %(default)s)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS,
                        help="sections to leave out")
    parser.add_argument("--only", nargs="*", choices=SECTIONS,
                        help="run only these sections")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        args.skip = [section for section in SECTIONS if section not in args.only]
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
    limit = None
    if "machine" not in args.skip:
        results["machine"] = machine_rows("paper")
        print_machine(results["machine"])
        limit = results["machine"]["float32"]["layer"]
    if "default" not in args.skip:
        results["default"] = default_model_rows(2.0 if quick else 10.0, args.repeats)
        print_rows("Synthesis, the embedded default model, CPU", results["default"])
    if "equal-length" not in args.skip:
        results["equal_length"] = equal_length_rows("paper", 0.25 if quick else 0.5, args.repeats,
                                                    limit)
        print_rows("Synthesis, paper size, CPU, equal chunk length", results["equal_length"])
    if "whole-input" not in args.skip:
        results["whole_input"] = whole_input_rows("paper", 1.0 if quick else 2.0, limit)
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
            memory_rows("paper", lengths, 1.5, "cache=1") + \
            memory_rows("paper", lengths, 1.5, "cache=0") + \
            memory_rows("small", lengths, None if not quick else 1.5)
        print("\nPeak memory (resident set, fresh process per length)\n"
              "| model | audio s | stopped after | peak MB | ratio |\n"
              "| --- | --- | --- | --- | --- |")
        for row in results["memory"]:
            print(f"| {row['size']} | {row['audio_s']:g} | {row['stopped_after_s']} | "
                  f"{row['peak_mb']:.0f} | {row['ratio_to_first']:.2f} |")
    if "stream" not in args.skip:
        results["stream"] = stream_rows(1.0 if quick else 3.0, 0.25 if quick else 0.5)
        if torch.cuda.is_available():
            results["stream"] += stream_rows(1.0 if quick else 3.0, 0.5, "cuda")
        print_stream(results["stream"])
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
