"""Command-line options of a training run, mapped one to one onto TrainingConfig."""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields

from binauralgrad.prior import FLAT_FIELDS, PRIOR_STDS, PRIORS, PriorConfig
from binauralgrad.training.config import (
    LR_SCHEDULES,
    MIXED_PRECISIONS,
    MODEL_CONFIGS,
    NOISE_LEVELS,
    TrainingConfig,
)
from binauralgrad.view import VIEWS

_DEFAULTS = {item.name: item.default for item in fields(TrainingConfig)
             if item.default is not MISSING}
# The prior's flags are its fields, flat: --prior (the kind), --prior-std, --prior-scale, ...
_DEFAULTS.update({"prior": PriorConfig().kind, **{name: getattr(PriorConfig(), field)
                                                  for name, field in FLAT_FIELDS.items()}})


def _none_or(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "off") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def add_training_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds every TrainingConfig option (`--stage`, `--data-dir`, ...) to `parser`."""
    add = parser.add_argument
    add("--stage", type=int, choices=(1, 2), required=True,
        help="1: learn the mean of the ears; 2: learn both ears given the true mean")
    add("--data-dir", required=True, help="training split, e.g. data/trainset")
    add("--output-dir", required=True, help="checkpoints, logs and the exported denoiser/")
    add("--model-config", choices=MODEL_CONFIGS,
        help="paper (30x128), small (12x32, the embedded default) or tiny (tests)")
    add("--max-steps", type=int, help="optimizer steps to train to")
    add("--batch-size", type=int, help="global batch over all processes and micro-steps")
    add("--learning-rate", type=float, help="Adam (peak) learning rate")
    add("--lr-schedule", choices=LR_SCHEDULES,
        help="constant (the paper) or cosine decay to zero at --max-steps")
    add("--warmup-steps", type=int, help="steps of linear learning-rate warm-up")
    add("--noise-levels", choices=NOISE_LEVELS,
        help="training steps drawn: uniform over all (the paper) or fast (the six the fast "
             "sampler visits)")
    add("--prior", choices=PRIORS,
        help="what the stage diffuses: zero (the signal, the paper), warp (the residual over "
             "the geometric warp) or attenuated_warp (over the warp with each ear's 1/r "
             "spreading)")
    add("--prior-std", choices=PRIOR_STDS,
        help="the residual's scale: constant (--prior-scale) or envelope (--prior-scale times "
             "the mono signal's frame RMS)")
    add("--prior-scale", type=float, help="the diffused residual is divided by this")
    add("--prior-gain", type=float,
        help="the warp prior is the warp times this: the ears' level over the mono's (at "
             "1 m for attenuated_warp)")
    add("--prior-head-taps", type=int,
        help="a learned head: each warped ear through a filter of this many taps that follows "
             "the talker's direction, fitted to the target (0: none)")
    add("--clip-length", type=int, help="samples per training clip (multiple of 400)")
    add("--lambda-phase", type=float, help="weight of the auxiliary phase loss")
    add("--lambda-clean", type=float,
        help="weight of the MSE of the clean latent implied by the noise prediction")
    add("--lambda-mrstft", type=float,
        help="weight of the multi-resolution STFT loss of the implied clean signal")
    add("--view", choices=VIEWS,
        help="what the model sees of the positions: rows (the tracked columns, the paper) or "
             "ears (direction, distance, facing and spreading at the listener's head)")
    add("--mixed-precision", choices=MIXED_PRECISIONS,
        help="overrides the accelerate config's mixed precision")
    add("--gradient-accumulation-steps", type=int, help="micro-steps per optimizer step")
    add("--max-grad-norm", type=_none_or(float), help="clip gradients to this norm (or none)")
    add("--checkpoint-every", type=int, help="steps between resumable checkpoints")
    add("--keep-checkpoints", type=int, help="how many newest checkpoints rotation keeps")
    add("--resume", help="'latest' (in --output-dir; fresh start if none) or a checkpoint folder")
    add("--seed", type=int, help="seed of initialisation, data order, crops, steps and noise")
    add("--ema-decay", type=_none_or(float), help="keep EMA weights (exported) with this decay")
    add("--log-with", nargs="+", help="Accelerate trackers: tensorboard, wandb, ... or all")
    add("--log-every", type=int, help="steps between logged training terms")
    add("--validate-every", type=int, help="steps between validations (0: never)")
    add("--validation-dir", help="held-out split for --validate-every, e.g. data/testset")
    add("--validation-clips", type=int, help="held-out clips sampled per validation")
    add("--validation-clip-length", type=int, help="samples per held-out clip")
    add("--validation-temperature", type=float,
        help="sampling temperature of the validation (the one the model is sampled at)")
    add("--push-to-hub", metavar="REPO", help="upload the exported denoiser to this Hub repo")
    add("--chunk-length", type=int, help="samples per dataset row (the paper: 96000)")
    add("--hop-length", type=int, help="samples between dataset rows (the paper: 48000)")
    add("--num-workers", type=int, help="DataLoader worker processes")
    add("--no-progress", dest="progress", action="store_false", default=None,
        help="hide the progress bar (default: shown)")
    for action in parser._actions:
        name = action.dest
        if name in _DEFAULTS and action.help and name not in ("stage", "data_dir", "output_dir") \
                and "(default:" not in action.help:
            action.help += f" (default: {_DEFAULTS[name]})"
    return parser


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    """The TrainingConfig of parsed options; options left out keep the config's defaults."""
    names = {item.name for item in fields(TrainingConfig)} | set(FLAT_FIELDS)
    values = {name: value for name, value in vars(args).items()
              if name in names and value is not None}
    return TrainingConfig(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a BinauralGrad stage (run with `accelerate launch` for many devices).")
    return add_training_arguments(parser)


def parse_config(argv: list[str] | None = None) -> TrainingConfig:
    """Parses `argv` (default: sys.argv[1:]) into a TrainingConfig; exits on bad values."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
