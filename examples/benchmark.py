"""Speed of the parts that matter: the geometric warp, training steps and synthesis.

    python examples/benchmark.py            # paper-size models (minutes on a 2-core CPU)
    python examples/benchmark.py --quick    # the small model, short inputs
    python examples/benchmark.py --json bench.json

Ratios are measured within one run (shared machines are noisy); each figure is the best of
`--repeats` runs. On a CUDA machine the training and synthesis lines also run there, in float32
and bfloat16.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.dsp import geometric_warp
from binauralgrad.training.benchmark import measure_training_throughput
from binauralgrad.training.config import MODEL_SIZES


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
    mono = 0.1 * torch.randn(1, 1, int(seconds * 48000), generator=generator)
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


def pipeline_of(size: str, device: str, dtype: torch.dtype) -> BinauralGradPipeline:
    sizes = MODEL_SIZES[size]
    torch.manual_seed(0)
    return BinauralGradPipeline(BinauralDenoiser(DenoiserConfig.stage_one(**sizes)),
                                BinauralDenoiser(DenoiserConfig.stage_two(**sizes))
                                ).to(device, dtype)


def synthesis_speed(size: str, seconds: float, device: str, dtype: torch.dtype,
                    repeats: int) -> dict:
    """Real-time factor of the two-stage fast (6 + 6 step) pipeline."""
    pipeline = pipeline_of(size, device, dtype)
    length = int(seconds * 48000)
    mono = 0.1 * torch.randn(length, generator=torch.Generator().manual_seed(1))
    positions = torch.tensor([[1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0]]).repeat(-(-length // 400), 1)

    def run():
        pipeline(mono, positions, generator=torch.Generator().manual_seed(0), progress=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    run()  # warm-up
    elapsed = best_time(run, repeats)
    return {"size": size, "device": device, "dtype": str(dtype).replace("torch.", ""),
            "audio_s": seconds, "seconds": elapsed, "realtime_factor": elapsed / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model, short inputs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    size = "small" if args.quick else "paper"
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {"warp": warp_speed(60.0, args.repeats)}
    print(f"geometric warp, 60 s of audio on CPU: {results['warp']['seconds']:.3f} s")
    results["training"] = []
    for device in devices:
        batch, clip = (2, 16000) if device == "cpu" else (12, 32000)
        for row in training_speed(size, batch, clip, 1 if args.quick else 2, device):
            results["training"].append(row)
            print(f"training, {size} stage {row['stage']} on {device}: "
                  f"{row['samples_per_s']:.2f} samples/s ({batch} x {clip} samples a step)")
    results["synthesis"] = []
    for device in devices:
        dtypes = [torch.float32] + ([torch.bfloat16] if device == "cuda" else [])
        for dtype in dtypes:
            row = synthesis_speed(size, 0.5 if device == "cpu" else 10.0, device, dtype,
                                  1 if device == "cpu" and not args.quick else args.repeats)
            results["synthesis"].append(row)
            print(f"synthesis, {size} on {device} {row['dtype']}: real-time factor "
                  f"{row['realtime_factor']:.3f} ({row['audio_s']:g} s of audio)")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
