"""Compare training recipes at one budget: each variant trains one stage, then the table.

    python examples/compare_recipes.py --data-dir data/trainset --validation-dir data/testset \
        --output-dir runs/recipes --stage 1 --max-steps 400

Every variant trains the same model size on the same data for the same number of steps (so at
the same wall-clock budget, within the machine's noise: the table says how long each took),
two at a time on one thread each, and is scored on held-out clips by the training loop's own
validation (the fast 6-step sampler, the benchmark's distances), at every sampling temperature
of `--temperatures` (the sampler's lever: it needs no retraining). `--resume` continues
interrupted variants; `--score-only` re-scores finished ones. The README's recipe table comes
from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Each variant changes some TrainingConfig values from the paper's recipe (the first row).
VARIANTS = {
    "paper": {},
    "fast levels": {"noise_levels": "fast"},
    "fast levels + scale": {"noise_levels": "fast", "prior_scale": 0.03},
    "fast levels + warp prior": {"noise_levels": "fast", "prior": "warp", "prior_scale": 0.02},
    "warp prior + envelope": {"noise_levels": "fast", "prior": "warp", "prior_std": "envelope",
                              "prior_scale": 0.7},
    "envelope + lr schedule": {"noise_levels": "fast", "prior": "warp", "prior_std": "envelope",
                               "prior_scale": 0.7, "learning_rate": 1e-3, "warmup_steps": 50,
                               "lr_schedule": "cosine"},
    # The embedded default's levers at this budget: the gain on the warp (the mono microphone is
    # about 2.5x louder than the ears), then each ear's 1/r spreading on top of it.
    "warp prior with gain": {"noise_levels": "fast", "prior": "warp", "prior_std": "envelope",
                             "prior_scale": 0.5, "prior_gain": 0.4, "learning_rate": 1e-3,
                             "warmup_steps": 100, "lr_schedule": "cosine"},
}
VARIANTS["attenuated warp prior"] = {**VARIANTS["warp prior with gain"], "prior": "attenuated_warp"}
# Levers for learning what the prior cannot (a measured head): the geometry at the listener's
# head as the model's view of the positions, then losses on the clean signal the noise
# prediction implies (its latent MSE, weighted towards the noisy steps; its multi-resolution STFT).
VARIANTS["ears view"] = {**VARIANTS["attenuated warp prior"], "view": "ears"}
VARIANTS["ears view + clean loss"] = {**VARIANTS["ears view"], "lambda_clean": 4.0}
VARIANTS["ears view + clean + mrstft"] = {**VARIANTS["ears view + clean loss"],
                                          "lambda_mrstft": 0.2}
# The head as structure: each warped ear through a learned direction-dependent filter, fitted
# by its own loss (`binauralgrad.models.head_filter`), the denoiser left with the rest.
VARIANTS["learned head"] = {**VARIANTS["ears view + clean + mrstft"], "prior_head_taps": 48}
METRICS = ("eval/wave_l2", "eval/amplitude_l2", "eval/phase_l2", "eval/mrstft", "eval/itd_error")
PRIOR_ALONE = "prior alone"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="training split")
    parser.add_argument("--validation-dir", required=True, help="held-out split for scoring")
    parser.add_argument("--output-dir", type=Path, required=True, help="one folder per variant")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=1, help="default: 1")
    parser.add_argument("--max-steps", type=int, default=400, help="default: 400")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (default: 2)")
    parser.add_argument("--model-config", default="small", help="model size (default: small)")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per step (default: 4)")
    parser.add_argument("--clip-length", type=int, default=12000,
                        help="samples per training clip (default: 12000)")
    parser.add_argument("--validation-clips", type=int, default=4,
                        help="held-out clips to score (default: 4)")
    parser.add_argument("--validation-clip-length", type=int, default=48000,
                        help="samples per held-out clip (default: 48000)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="default: all")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.5, 0.0],
                        help="sampling temperatures to score each variant at (default: 1 0.5 0)")
    parser.add_argument("--direct-dir",
                        help="the validation split with each scene's direct sound as its "
                             "reference (simulator_bounds.py --write-direct): adds its row")
    parser.add_argument("--resume", action="store_true", help="continue interrupted variants")
    parser.add_argument("--score-only", action="store_true",
                        help="only score the variants' exported denoisers")
    args = parser.parse_args(argv)
    pending = [] if args.score_only else list(args.variants)
    while pending:
        batch, pending = pending[: args.parallel], pending[args.parallel:]
        runs = [(name, _launch(name, args)) for name in batch]
        for name, (process, started) in runs:
            if process.wait():
                log = variant_folder(args.output_dir, name) / "train.log"
                print(f"{name}: training failed; see {log}", file=sys.stderr)
                return 1
            _write_time(args, name, time.monotonic() - started)
    print(recipe_table(args.output_dir, args.variants, args))
    return 0


def variant_folder(output_dir: Path, name: str) -> Path:
    """A variant's run folder: "ears view + clean loss" -> output_dir/ears_view+clean_loss."""
    return output_dir / name.replace(" + ", "+").replace(" ", "_")


def _launch(name: str, args):
    folder = variant_folder(args.output_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    options = {"model_config": args.model_config, "batch_size": args.batch_size,
               "clip_length": args.clip_length, "max_steps": args.max_steps,
               "checkpoint_every": 100, "validate_every": 100,
               "validation_clips": args.validation_clips,
               "validation_temperature": args.temperatures[0],
               "validation_clip_length": args.validation_clip_length, "num_workers": 0,
               **VARIANTS[name]}
    command = [sys.executable, str(Path(__file__).with_name("train.py")),
               "--stage", str(args.stage), "--data-dir", args.data_dir,
               "--validation-dir", args.validation_dir, "--output-dir", str(folder),
               "--no-progress"]
    command += [item for key, value in options.items()
                for item in (f"--{key.replace('_', '-')}", str(value))]
    if args.resume:
        command += ["--resume", "latest"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = open(folder / "train.log", "a")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            env=environment), time.monotonic()


def _write_time(args, name: str, seconds: float) -> None:
    timing = variant_folder(args.output_dir, name) / "wall_time.json"
    timing.write_text(json.dumps({"seconds": seconds}))


def recipe_table(output_dir: Path, names, args) -> str:
    """A markdown table: each variant's validation scores at each temperature, and its time."""
    lines = ["| recipe | temperature | steps | minutes | Wave L2 (x1000) | Amplitude L2 "
             "| Phase L2 | MRSTFT | ITD (us) |", "|---|---|---|---|---|---|---|---|---|"]
    prior = prior_row(output_dir, names, args)
    if prior:
        lines.append(prior)
    direct = direct_row(output_dir, names, args)
    if direct:
        lines.append(direct)
    for name in names:
        folder = variant_folder(output_dir, name)
        timing = folder / "wall_time.json"
        minutes = float("nan")
        if timing.is_file():
            minutes = json.loads(timing.read_text())["seconds"] / 60
        steps = _steps_done(folder)
        for temperature, scores in score_variant(folder, args, args.temperatures).items():
            lines.append(f"| {name} | {temperature:g} | {steps} | {minutes:.1f} | "
                         + _cells(scores) + " |")
        head = head_row(folder, name, args, steps, minutes)
        if head:
            lines.append(head)
    return "\n".join(lines)


def head_row(folder: Path, name: str, args, steps: int, minutes: float) -> str | None:
    """The row of a variant's learned head alone (its prior's trained part, no denoising)."""
    from binauralgrad.models.denoiser import load_denoiser
    from binauralgrad.training.validation import prior_scores

    denoiser = load_denoiser(folder / "denoiser")
    if not denoiser.config.prior.head_taps:
        return None
    batch, config = _validation_batch(folder, args)
    scores = prior_scores(denoiser, batch, stage=config.stage, learned=True)
    scores = {key.replace("eval_head/", "eval/"): value for key, value in scores.items()}
    return f"| {name}: its learned head alone | - | {steps} | {minutes:.1f} | {_cells(scores)} |"


def _cells(scores: dict[str, float]) -> str:
    values = [scores[METRICS[0]] * 1000] + [scores.get(key, float("nan")) for key in METRICS[1:]]
    return " | ".join(f"{value:.3f}" for value in values)


def prior_row(output_dir: Path, names, args) -> str | None:
    """The table row of the variants' shared prior alone (of the first variant with a prior)."""
    from binauralgrad.models.denoiser import load_denoiser
    from binauralgrad.training.validation import prior_scores

    for name in names:
        folder = variant_folder(output_dir, name)
        if not (folder / "denoiser").is_dir():
            continue
        denoiser = load_denoiser(folder / "denoiser")
        if denoiser.config.diffuses_signal:
            continue
        batch, config = _validation_batch(folder, args)
        scores = prior_scores(denoiser, batch, stage=config.stage)
        scores = {key.replace("eval_prior/", "eval/"): value for key, value in scores.items()}
        return f"| {PRIOR_ALONE} (of {name}) | - | 0 | 0 | {_cells(scores)} |"
    return None


def direct_row(output_dir: Path, names, args) -> str | None:
    """The row of the true head's direct sound: the same clips of `--direct-dir`, scored against
    the references as `validate` scores the model (all a model of the head could reach); in
    stage two its ears' difference around the true mean, which stage two is given."""
    from binauralgrad.evaluation.metrics import compute_metrics
    from binauralgrad.training.losses import clean_target
    from binauralgrad.training.validation import stage_metrics

    if not getattr(args, "direct_dir", None):
        return None
    for name in names:
        folder = variant_folder(output_dir, name)
        if not (folder / "training_config.json").is_file():
            continue
        batch, config = _validation_batch(folder, args)
        direct, _ = _validation_batch(folder, argparse.Namespace(validation_dir=args.direct_dir))
        prediction = clean_target(direct, config.stage).float()
        if config.stage == 2:  # given the true mean, as stage two's model and prior are
            prediction = prediction - prediction.mean(dim=1, keepdim=True) + batch["mean"]
        scores = compute_metrics(prediction, clean_target(batch, config.stage).float(),
                                 metrics=stage_metrics(config.stage))
        scores = {f"eval/{key}": float(value) for key, value in scores.items()}
        return f"| the true head's direct sound | - | - | - | {_cells(scores)} |"
    return None


def _validation_batch(folder: Path, args):
    from binauralgrad.training.config import TrainingConfig
    from binauralgrad.training.validation import load_validation_batch

    values = json.loads((folder / "training_config.json").read_text())
    config = TrainingConfig.from_dict({**values, "validation_dir": args.validation_dir})
    return load_validation_batch(config), config


def _steps_done(folder: Path) -> int:
    recipe = folder / "denoiser" / "training_config.json"
    if recipe.is_file():
        return json.loads(recipe.read_text())["steps_done"]
    # Exports older than the recipe file: the last logged step.
    return json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])["step"]


def score_variant(folder: Path, args, temperatures) -> dict[float, dict[str, float]]:
    """The exported denoiser's validation scores ({eval/...}) at each sampling temperature."""
    from binauralgrad.models.denoiser import load_denoiser
    from binauralgrad.schedule import NoiseSchedule
    from binauralgrad.training.validation import validate

    batch, config = _validation_batch(folder, args)
    denoiser = load_denoiser(folder / "denoiser")
    return {temperature: validate(denoiser, NoiseSchedule(temperature=temperature), batch,
                                  stage=config.stage, seed=config.seed)
            for temperature in temperatures}


if __name__ == "__main__":
    sys.exit(main())
