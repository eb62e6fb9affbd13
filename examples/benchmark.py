"""Speed of the parts that matter: the geometric warp, training steps and synthesis.

    python examples/benchmark.py            # paper-size models (about 35 minutes on 2 CPU cores)
    python examples/benchmark.py --quick    # shorter inputs, fewer lines
    python examples/benchmark.py --skip warp training --json bench.json
    python examples/benchmark.py --only stream          # the streaming table alone
    python examples/benchmark.py --only machine tuning  # tune afresh, then check the choice
    python examples/benchmark.py --only tuning-spread   # ten fresh tunings against the best pick

Synthesis lines: the real-time factor (RTF, compute seconds per audio second) of the two-stage
fast (6 + 6 step) pipeline, and for each optimisation its speed ratio against the
straightforward path (`implementation="reference"`) measured in the same run on the same input,
with the max / mean absolute deviation of its output from that path's float32 output on the same
noise. The tuning check runs every candidate of the per-machine tuning forced on the same input
and says how far the stored choice is from the fastest of them. The models have random weights
(no released checkpoint is needed for speed), with a non-zero output layer so that deviations are
not trivially zero. Peak memory is the resident-set high-water mark of a fresh process per input
length. Ratios are measured within one run (shared machines are noisy); the variants take turns
for `--repeats` rounds and each keeps its best.

The straightforward path's long passes allocate activations of about 50 MB per second of audio,
which glibc maps as fresh pages every time; an allocator that keeps its memory (for instance
MALLOC_TOP_PAD_=2147483648 MALLOC_TRIM_THRESHOLD_=8589934592) makes them about 3x faster, so
the whole-input ratios depend on the allocator. The fast path's tiles are small either way.

Each section is one function below (SECTIONS names them in order); the measuring machinery is in
examples/bench/: common.py (the yardstick), synthesis.py, streaming.py and memory.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))

from common import pipeline_of, print_rows, test_signal, variant_rows  # noqa: E402
from memory import memory_child, memory_rows  # noqa: E402
from streaming import print_stream, stream_rows  # noqa: E402
from synthesis import (  # noqa: E402
    chunking_rows,
    default_model_rows,
    equal_length_rows,
    gpu_rows,
    machine_rows,
    print_machine,
    print_tuning_check,
    print_tuning_spread,
    training_speed,
    tuning_check_rows,
    tuning_child,
    tuning_spread_rows,
    warp_speed,
    whole_input_rows,
)

__all__ = ["default_model_rows", "memory_rows", "pipeline_of", "stream_rows", "test_signal",
           "variant_rows"]


def warp_section(args, results: dict) -> None:
    results["warp"] = warp_speed(60.0, args.repeats)
    print(f"geometric warp, 60 s of audio on CPU: {results['warp']['seconds']:.3f} s")


def training_section(args, results: dict) -> None:
    results["training"] = []
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        batch, clip = (2, 16000) if device == "cpu" else (12, 32000)
        size = "small" if args.quick else "paper"
        for row in training_speed(size, batch, clip, 1 if args.quick else 2, device):
            results["training"].append(row)
            print(f"training, {size} stage {row['stage']} on {device}: "
                  f"{row['samples_per_s']:.2f} samples/s ({batch} x {clip} samples a step)")


def machine_section(args, results: dict) -> None:
    results["machine"] = machine_rows("paper")
    print_machine(results["machine"])


def tuning_section(args, results: dict) -> None:
    size = "small" if args.quick else "paper"
    results["tuning"] = tuning_check_rows(size, 0.5, args.repeats)
    print_tuning_check(f"The stored tuning against every candidate forced, {size} size, 0.5 s, "
                       "CPU (speed-up: against the stored choice)", results["tuning"])


def tuning_spread_section(args, results: dict) -> None:
    size = "small" if args.quick else "paper"
    results["tuning_spread"] = tuning_spread_rows(size, 0.5, args.tunings, args.repeats)
    print_tuning_spread(f"Tuning spread, {size} size, 0.5 s, CPU", results["tuning_spread"])


def limit_of(results: dict) -> dict[torch.dtype, float] | None:
    """The machine section's peak matrix-product rate per dtype: with it the rows get their
    "of peak" and measure the rate kept up in turns with them, their "of limit"."""
    if "machine" not in results:
        return None
    machine = results["machine"]
    return {getattr(torch, name): machine[name]["layer"] for name in ("float32", "bfloat16")
            if name in machine}


def default_section(args, results: dict) -> None:
    results["default"] = default_model_rows(2.0 if args.quick else 10.0, args.repeats)
    print_rows("Synthesis, the embedded default model, CPU", results["default"])


def equal_length_section(args, results: dict) -> None:
    results["equal_length"] = equal_length_rows("paper", 0.25 if args.quick else 0.5,
                                                args.repeats, limit_of(results))
    print_rows("Synthesis, paper size, CPU, equal chunk length", results["equal_length"])


def whole_input_section(args, results: dict) -> None:
    results["whole_input"] = whole_input_rows("paper", 1.0 if args.quick else 2.0,
                                              limit_of(results))
    print_rows("Synthesis, paper size, CPU, against whole-input passes", results["whole_input"])


def chunking_section(args, results: dict) -> None:
    if not args.quick:
        results["chunking"] = chunking_rows("paper", 3.0, 1.0)
        print_rows("Synthesis, paper size, CPU, overlapping chunks", results["chunking"])


def gpu_section(args, results: dict) -> None:
    if torch.cuda.is_available():
        results["gpu"] = gpu_rows("paper", 10.0 if args.quick else 30.0, args.repeats)
        print_rows(f"Synthesis, paper size, {torch.cuda.get_device_name()}", results["gpu"])


def memory_section(args, results: dict) -> None:
    lengths = [10.0, 60.0]
    results["memory"] = memory_rows("paper", lengths, 1.5) + \
        memory_rows("paper", lengths, 1.5, "cache=1") + \
        memory_rows("paper", lengths, 1.5, "cache=0") + \
        memory_rows("small", lengths, None if not args.quick else 1.5)
    print("\nPeak memory (resident set, fresh process per length)\n"
          "| model | audio s | stopped after | peak MB | ratio |\n"
          "| --- | --- | --- | --- | --- |")
    for row in results["memory"]:
        print(f"| {row['size']} | {row['audio_s']:g} | {row['stopped_after_s']} | "
              f"{row['peak_mb']:.0f} | {row['ratio_to_first']:.2f} |")


def stream_section(args, results: dict) -> None:
    results["stream"] = stream_rows(1.0 if args.quick else 3.0, 0.25 if args.quick else 0.5)
    if torch.cuda.is_available():
        results["stream"] += stream_rows(1.0 if args.quick else 3.0, 0.5, "cuda")
    print_stream(results["stream"])


SECTIONS = {"warp": warp_section, "training": training_section, "machine": machine_section,
            "tuning": tuning_section, "tuning-spread": tuning_spread_section,
            "default": default_section,
            "equal-length": equal_length_section, "whole-input": whole_input_section,
            "chunking": chunking_section,
            "gpu": gpu_section, "memory": memory_section, "stream": stream_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter inputs, fewer lines")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of each timing; the best counts (default %(default)s)")
    parser.add_argument("--tunings", type=int, default=10,
                        help="fresh tunings of the tuning-spread section (default %(default)s)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS,
                        help="sections to leave out")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--tuning-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        size, seconds, stop = args.memory_child
        memory_child(size, float(seconds), None if stop == "None" else float(stop))
        return
    if args.tuning_child:
        size, budget_s, *tiles = args.tuning_child
        tuning_child(size, float(budget_s), tuple(map(int, tiles)))
        return
    results = {}
    for name, section in SECTIONS.items():
        if name not in args.skip and (not args.only or name in args.only):
            section(args, results)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
