"""Quality and speed at fewer sampler steps: every metric per step count on held-out scenes.

    python examples/steps_quality.py runs/pipeline data/testset
    python examples/steps_quality.py runs/pipeline data/testset --steps 6 3 1 --seconds 10

Synthesises every scene of a test set in the Binaural Speech layout (`*/mono.wav`,
`tx_positions.txt`, `binaural.wav`) at each step count, with the same seed per scene for every
count, scores it as `binauralgrad benchmark` does (`binauralgrad.evaluation.metrics`, averaged
over the scenes by length) and prints one row per step count beside the model's DSP prior alone
and the geometric warp, then the synthesis time per step count.

    python examples/steps_quality.py runs/pipeline data/testset --adopt 2

`--adopt PCT` makes the fewest steps that stay within PCT % of the most on every metric the
pipeline folder's default (`fast_steps` in its pipeline.json) and records the table in its card.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from binauralgrad import BinauralGradPipeline
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.data import find_sequences
from binauralgrad.data.sequence import load_sequence
from binauralgrad.evaluation.benchmark import SYSTEMS, parts_alone
from binauralgrad.evaluation.folder import format_table
from binauralgrad.evaluation.metrics import METRICS, compute_metrics, weighted_mean

STEP_COUNTS = (6, 4, 3, 2, 1)


def load_scenes(testset: Path, seconds: float | None) -> list[dict]:
    """Each scene's name, mono (T,), positions (K, 7) and binaural reference (2, T), cut to its
    first `seconds` (whole position frames) when given."""
    scenes = []
    for folder in find_sequences(testset):
        scene = load_sequence(folder)
        if "binaural" not in scene:
            raise FileNotFoundError(f"{folder} has no binaural.wav to score against")
        length = scene["mono"].shape[-1]
        if seconds is not None:
            length = min(length, round(seconds * SAMPLE_RATE))
        scenes.append({"name": folder.name, "mono": scene["mono"][0, :length],
                       "positions": scene["positions"][: -(-length // FRAME_SAMPLES)],
                       "binaural": scene["binaural"][:, :length]})
    if not scenes:
        raise FileNotFoundError(f"no scenes under {testset}")
    return scenes


def step_label(count: int) -> str:
    return f"BinauralGrad, {count} step{'s' if count > 1 else ''}"


def warm_up(pipe: BinauralGradPipeline, scene: dict, counts) -> None:
    """A short synthesis per count, so that one-off costs (the fast path's per-machine tuning,
    first allocations) are not charged to whichever count runs first."""
    for count in counts:
        pipe(scene["mono"][:FRAME_SAMPLES], scene["positions"][:1], steps=count, progress=False)


def score_scenes(pipe: BinauralGradPipeline, scenes: list[dict], counts, *, seed: int,
                 protocol: str) -> tuple[dict[str, list[dict]], dict[int, float]]:
    """({row label: per-scene metrics}, {count: synthesis seconds over all scenes})."""
    rows = {step_label(count): [] for count in counts}
    seconds = dict.fromkeys(counts, 0.0)
    for index, scene in enumerate(scenes):
        reference, inputs = scene["binaural"], (scene["mono"], scene["positions"])
        for count in counts:  # the counts take turns, so a slow spell falls on all of them
            generator = torch.Generator().manual_seed(seed + index)
            start = time.perf_counter()
            output = pipe(*inputs, steps=count, generator=generator, progress=False)
            seconds[count] += time.perf_counter() - start
            rows[step_label(count)].append(compute_metrics(output.audio, reference,
                                                           protocol=protocol))
        for system, learned in parts_alone(pipe):
            rows.setdefault(SYSTEMS[system], []).append(compute_metrics(
                pipe.prior_alone(*inputs, learned=learned), reference, protocol=protocol))
        rows.setdefault(SYSTEMS["dsp"], []).append(
            compute_metrics(output.warped, reference, protocol=protocol))
    return rows, seconds


def fewest_within(table: dict[str, dict], counts, percent: float) -> tuple[int, float]:
    """(the fewest counts whose every metric is within `percent` % of the most counts', its
    worst relative change in %), the noise floor aside (a level, not an error)."""
    best = table[step_label(max(counts))]

    def worst(count: int) -> float:
        row = table[step_label(count)]
        return max(100 * (row[name] / best[name] - 1) * (-1 if METRICS[name].higher_is_better
                                                          else 1)
                   for name in best if name != "noise_floor")

    fewest = min(count for count in counts if worst(count) <= percent)
    return fewest, worst(fewest)


def adopt(folder: Path, table: dict[str, dict], counts, percent: float, scenes: int) -> int:
    """Saves the fewest counts within `percent` % as the pipeline's default, with the table."""
    count, change = fewest_within(table, counts, percent)
    pipe = BinauralGradPipeline.from_pretrained(folder)
    pipe.fast_steps = count
    most = max(counts)
    pipe.info = {**pipe.info, "steps": {
        "setting": f"The same {scenes} scenes at each step count a stage, the same seed per scene "
                   f"(examples/steps_quality.py). {count} is the fewest within {percent:g} % of "
                   f"{most} on every metric (at most {change:.1f} % worse), so the pipeline "
                   f"samples with {count}: {most / count:.1f}x less compute than {most}.",
        "table": format_table(table, first_column="System")}}
    pipe.save_pretrained(folder, overwrite=True)
    return count


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="pipeline folder or Hub repo id")
    parser.add_argument("testset", type=Path,
                        help="held-out scenes: folders with mono.wav, tx_positions.txt and "
                             "binaural.wav")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEP_COUNTS),
                        help="step counts per stage to compare (default: %(default)s)")
    parser.add_argument("--seconds", type=float,
                        help="score only each scene's first seconds (default: all of it)")
    parser.add_argument("--seed", type=int, default=0,
                        help="scene i samples with seed + i (default %(default)s)")
    parser.add_argument("--protocol", choices=("paper", "full"), default="paper",
                        help="paper: PESQ of the left ear's first 5 s (default); full: also "
                             "whole-length PESQ")
    parser.add_argument("--device", default="cpu", help="default: %(default)s")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--adopt", type=float, metavar="PCT",
                        help="save the fewest steps within PCT %% of the most on every metric as "
                             "the pipeline folder's default, with the table in its card")
    args = parser.parse_args(argv)
    if args.adopt is not None and not Path(args.model).is_dir():
        parser.error("--adopt saves into the pipeline: give a local pipeline folder")

    pipe = BinauralGradPipeline.from_pretrained(args.model, device=args.device)
    scenes = load_scenes(args.testset, args.seconds)
    warm_up(pipe, scenes[0], args.steps)
    rows, seconds = score_scenes(pipe, scenes, args.steps, seed=args.seed,
                                 protocol=args.protocol)
    lengths = [scene["mono"].shape[-1] for scene in scenes]
    table = {label: weighted_mean(scores, lengths) for label, scores in rows.items()}
    audio_s = sum(lengths) / SAMPLE_RATE
    print(f"{len(scenes)} scenes, {audio_s:.1f} s of audio, model {args.model}\n")
    print(format_table(table, first_column="System"))
    print("\n| steps per stage | synthesis s | RTF (s per audio s) |\n| --- | --- | --- |")
    for count, elapsed in seconds.items():
        print(f"| {count} | {elapsed:.2f} | {elapsed / audio_s:.3f} |")
    result = {"scenes": [scene["name"] for scene in scenes], "audio_s": audio_s,
              "metrics": table, "seconds": {str(count): value for count, value in seconds.items()}}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.adopt is not None:
        result["adopted"] = adopt(Path(args.model), table, args.steps, args.adopt, len(scenes))
        print(f"\n{args.model} now samples with {result['adopted']} steps a stage")
    return result


if __name__ == "__main__":
    main()
