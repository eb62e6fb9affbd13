"""Subcommands of `binauralgrad` for the training area: `train` and `assemble`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds `train` (also as `accelerate launch -m binauralgrad train ...`) and `assemble`."""
    from binauralgrad.training.arguments import add_training_arguments

    train = subparsers.add_parser(
        "train", help="train one stage (under `accelerate launch -m binauralgrad train` for "
                      "several processes)",
        description="Train one BinauralGrad stage with Accelerate: one CPU, one GPU, or many "
                    "(`accelerate launch -m binauralgrad train --stage 1 ...`). Every option "
                    "defaults to the paper's recipe; --resume latest continues a run.")
    add_training_arguments(train)
    train.set_defaults(func=run_train)
    assemble = subparsers.add_parser(
        "assemble",
        help="join two trained stages into a pipeline folder",
        description="Write a pipeline folder (stage_one/, stage_two/, pipeline.json) from the "
        "denoiser folders exported by training (OUTPUT_DIR/denoiser of each stage's run), for "
        "BinauralGradPipeline.from_pretrained and `binauralgrad synthesize`.",
    )
    assemble.add_argument("--stage-one", required=True, metavar="DIR",
                          help="stage one's exported denoiser, e.g. runs/stage_one/denoiser")
    assemble.add_argument("--stage-two", required=True, metavar="DIR",
                          help="stage two's exported denoiser, e.g. runs/stage_two/denoiser")
    assemble.add_argument("--output", required=True, metavar="DIR",
                          help="the pipeline folder to write, e.g. runs/pipeline")
    assemble.add_argument("--temperature", type=float, default=1.0,
                          help="the sampling noise's scale saved with the pipeline; below 1 "
                               "trades variety for lower error (default: 1, the paper's)")
    assemble.add_argument("--description", metavar="TEXT",
                          help="a paragraph for the model card (default: none)")
    assemble.add_argument("--evaluation", metavar="RESULTS_MD",
                          help="a results.md of `binauralgrad benchmark` to state in the model "
                               "card (default: none)")
    assemble.add_argument("--evaluation-setting", metavar="TEXT", default="",
                          help="what --evaluation was measured on, for the card (default: none)")
    assemble.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    assemble.add_argument("--quiet", action="store_true", help="no summary")
    assemble.set_defaults(func=run_assemble)


def run_assemble(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad assemble`."""
    from pathlib import Path

    from binauralgrad.training.export import assemble_pipeline

    info = {}
    if args.description:
        info["description"] = args.description
    if args.evaluation:
        table = Path(args.evaluation)
        if not table.is_file():
            raise FileNotFoundError(f"--evaluation {table} not found")
        info["evaluation"] = {"setting": args.evaluation_setting, "table": table.read_text()}
    from binauralgrad.schedule import NoiseSchedule

    folder = assemble_pipeline(args.stage_one, args.stage_two, args.output, info=info,
                               schedule=NoiseSchedule(temperature=args.temperature),
                               overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote the pipeline to {folder}", file=sys.stderr)
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad train` (and of examples/train.py)."""
    import logging

    from binauralgrad.training import NonFiniteLossError, config_from_args, train

    config = config_from_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        result = train(config)
    except NonFiniteLossError as error:
        print(f"binauralgrad train: {error}", file=sys.stderr)
        return 1
    print(f"step {result.step}: {result.losses}; denoiser exported to {result.export_dir}")
    return 0
