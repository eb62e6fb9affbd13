"""The benchmark's synthesis sections: the machine's limit, then the variants of each setting."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping

import torch
from common import SCRIPT, best_time, pipeline_of, print_rows, variant_rows, variant_setting

from binauralgrad import BinauralGradPipeline, DenoiserConfig
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.dsp import geometric_warp
from binauralgrad.evaluation.speed import gemm_limit
from binauralgrad.inference import tuning
from binauralgrad.inference.backends import cpu_bf16_supported
from binauralgrad.training.config import MODEL_SIZES
from binauralgrad.training.throughput import measure_training_throughput


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


def machine_rows(size: str) -> dict:
    """The machine's matrix-product limit at a model size's shapes, and its tuning measured
    afresh (and stored, so that the synthesis lines below run with it)."""
    config = DenoiserConfig.stage_one(**MODEL_SIZES[size])
    pipeline = pipeline_of(size)
    stages, steps = pipeline.stages, pipeline.fast_steps
    result = {"size": size, "capability": torch.backends.cpu.get_cpu_capability(),
              "float32": gemm_limit(config), "key": tuning.machine_key(stages, torch.float32,
                                                                       steps)}
    if cpu_bf16_supported():
        result["bfloat16"] = gemm_limit(config, torch.bfloat16)
        tuning.store(stages, torch.bfloat16, steps,
                     tuning.measure(stages, torch.bfloat16, steps)[0])
    choice, timings = tuning.measure(stages, torch.float32, steps)
    tuning.store(stages, torch.float32, steps, choice)
    result["choice"], result["timings"] = vars(choice), timings
    return result


def print_machine(machine: dict) -> None:
    print(f"\nMachine: {machine['key']}")
    for dtype in ("float32", "bfloat16"):
        if dtype in machine:
            rates = machine[dtype]
            print(f"matrix-product limit, {dtype}, {machine['size']} size shapes: "
                  f"{rates['layer']:.0f} GFLOP/s (dilated {rates['dilated']:.0f}, output "
                  f"{rates['output']:.0f})")
    print(f"tuned choice: {machine['choice']}\n"
          "| phase | kernels | tile | cache | runs | us per sample (fastest run) | "
          "over the round's fastest (median) |\n| --- | --- | --- | --- | --- | --- | --- |")
    for row in machine["timings"]:
        print(f"| {row['phase']} | {row['backend']} | {row['tile']} | {row['cache']} | "
              f"{row['runs']} | {row['seconds_per_sample'] * 1e6:.2f} | {row['relative']:.3f} |")


def _forced(choice: tuning.Choice) -> str:
    """The BINAURALGRAD_TUNING setting that forces `choice`."""
    return f"off,backend={choice.backend},tile={choice.tile},cache={int(choice.cache)}"


def tuning_check_rows(size: str, seconds: float, repeats: int,
                      tiles=tuning.CANDIDATE_TILES) -> list[dict]:
    """The stored (or now measured) choice against every candidate forced, on the real input.

    Each row gets `of_best`: its time over the fastest forced candidate's, so the stored
    choice's row says how far the tuning's pick is from the best it could have made.
    """
    variants = {"stored choice": {"setting": ""}}
    for backend in tuning.candidate_backends(torch.float32):
        for tile in tiles:
            for cache in (False, True):
                variants[f"forced: {backend}, tile {tile}, cache {'on' if cache else 'off'}"] = \
                    {"setting": _forced(tuning.Choice(tile=tile, cache=cache, backend=backend))}
    pipeline = pipeline_of(size)
    with variant_setting(""):  # tuning on, whatever the environment says; measured if need be
        choice = tuning.choose(pipeline.stages, torch.float32, torch.device("cpu"),
                               pipeline.fast_steps)
    rows = variant_rows(pipeline, seconds, variants, repeats)
    for row, options in zip(rows, variants.values(), strict=True):
        row["setting"] = options["setting"]
    rows[0]["variant"] = f"stored choice: {choice.backend}, tile {choice.tile}, " \
        f"cache {'on' if choice.cache else 'off'}"
    best = min(row["seconds"] for row in rows[1:])
    for row in rows:
        row["of_best"] = row["seconds"] / best
    return rows


def print_tuning_check(title: str, rows: list[dict]) -> None:
    print_rows(title, rows)
    stored, best = rows[0], min(rows[1:], key=lambda row: row["seconds"])
    print(f"{stored['variant']} takes {stored['of_best']:.2f}x the time of the fastest forced "
          f"candidate ({best['variant'].removeprefix('forced: ')})")


def tuning_spread_rows(size: str, seconds: float, tunings: int, repeats: int,
                       tiles=tuning.CANDIDATE_TILES, budget_s: float = tuning.BUDGET_S) -> dict:
    """`tunings` fresh tunings, each followed by synthesis with its pick, against the best pick.

    First every candidate is forced on the real input (`tuning_check_rows`, `repeats` rounds in
    turns) to find the fastest. Then each tuning measures afresh in a process of its own, as a
    user's first call does (`fresh_tuning`, within `budget_s`); its pick and that fastest
    candidate are timed in turns (`repeats` rounds, best kept), so that a slow spell of the
    machine falls on both: `of_best` is the pick's time over the fastest's (1, and no times,
    where the pick is that candidate: two runs of one setting differed by up to 7 % here).
    `forced_of_best` is the same ratio read from the candidates' own timings (1 where the pick
    is the fastest candidate), which a slow spell during one tuning's pair does not move.
    """
    candidates = tuning_check_rows(size, seconds, repeats, tiles)
    fastest = min(candidates[1:], key=lambda row: row["seconds"])
    pipeline = pipeline_of(size)
    rows = []
    for index in range(tunings):
        choice = fresh_tuning(size, tiles, budget_s)
        setting = _forced(choice)
        forced = next(row for row in candidates[1:] if row["setting"] == setting)
        row = {"tuning": index + 1, "backend": choice.backend, "tile": choice.tile,
               "cache": choice.cache, "seconds": None, "fastest_seconds": None, "of_best": 1.0,
               "forced_of_best": forced["seconds"] / fastest["seconds"]}
        if setting != fastest["setting"]:  # the fastest itself against itself times only noise
            pair = {"pick": {"setting": setting}, "fastest": {"setting": fastest["setting"]}}
            variant_rows(pipeline, seconds / 4, pair, 1)  # warm-up
            timed = variant_rows(pipeline, seconds, pair, repeats)
            row.update(seconds=timed[0]["seconds"], fastest_seconds=timed[1]["seconds"],
                       of_best=timed[0]["seconds"] / timed[1]["seconds"])
        rows.append(row)
    return {"candidates": candidates, "fastest": fastest["variant"], "tunings": rows}


def fresh_tuning(size: str, tiles=tuning.CANDIDATE_TILES,
                 budget_s: float = tuning.BUDGET_S) -> tuning.Choice:
    """The float32 choice that a new process measures for a model size (`tuning_child`).

    In a process of its own: in the benchmark's, after the forced candidates' runs, its
    memory is not a first call's (4 of 10 tunings there ranked the conditioner cache behind,
    where whole runs put it 3-10 % ahead, against 1 of 14 in fresh processes).
    """
    command = [sys.executable, str(SCRIPT), "--tuning-child", size, str(budget_s),
               *map(str, tiles)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return tuning.Choice(**json.loads(result.stdout.strip().splitlines()[-1]))


def tuning_child(size: str, budget_s: float, tiles: tuple[int, ...]) -> None:
    """`fresh_tuning`'s process: measures, and prints the choice as JSON."""
    pipeline = pipeline_of(size)
    choice, _ = tuning.measure(pipeline.stages, torch.float32, pipeline.fast_steps, tiles=tiles,
                               budget_s=budget_s)
    print(json.dumps(vars(choice)))


def print_tuning_spread(title: str, spread: dict) -> None:
    print_tuning_check(title + ": every candidate forced", spread["candidates"])
    print(f"\n{title}: fresh tunings, each pick timed in turns with the fastest candidate "
          f"({spread['fastest'].removeprefix('forced: ')})\n"
          "| tuning | kernels | tile | cache | pick s | fastest s | pick / fastest | "
          "the same, forced candidates' times |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in spread["tunings"]:
        times = [f"{row[key]:.2f}" if row[key] else "the same" for key in
                 ("seconds", "fastest_seconds")]
        print(f"| {row['tuning']} | {row['backend']} | {row['tile']} | "
              f"{'on' if row['cache'] else 'off'} | {times[0]} | {times[1]} | "
              f"{row['of_best']:.3f} | {row['forced_of_best']:.3f} |")
    for key, label in (("of_best", "timed in turns"), ("forced_of_best", "by the candidates")):
        ratios = [row[key] for row in spread["tunings"]]
        within = sum(ratio <= 1.05 for ratio in ratios)
        print(f"{label}: {within} of {len(ratios)} picks within 5 % of the fastest; pick / "
              f"fastest {min(ratios):.3f} to {max(ratios):.3f}")


def default_model_rows(seconds: float, repeats: int) -> list[dict]:
    """The embedded default pipeline (trained weights) on the CPU: wavefront against reference."""
    from binauralgrad.constants import DEFAULT_MODEL_DIR

    pipeline = BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    variants = {"embedded default, straightforward float32 (reference)":
                {"implementation": "reference"},
                "embedded default, wavefront float32 (default)": {}}
    return variant_rows(pipeline, seconds, variants, repeats)


def equal_length_rows(size: str, seconds: float, repeats: int,
                      limits: Mapping[torch.dtype, float] | None = None) -> list[dict]:
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
        "fast float32, untuned (built-in defaults)": {"setting": "off"},
    }
    if cpu_bf16_supported():
        variants["fast bfloat16, wavefront"] = {"dtype": torch.bfloat16}
    return variant_rows(pipeline_of(size), seconds, variants, repeats, limits)


def whole_input_rows(size: str, seconds: float,
                     limits: Mapping[torch.dtype, float] | None = None) -> list[dict]:
    """The default pipeline against passes over the whole input, as the original runs them."""
    variants = {"straightforward float32, whole-input passes": {"implementation": "reference"},
                "fast float32, default": {}}
    if cpu_bf16_supported():
        variants["fast bfloat16, default"] = {"dtype": torch.bfloat16}
    return variant_rows(pipeline_of(size), seconds, variants, 1, limits)


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
