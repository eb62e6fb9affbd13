"""Subcommands of `binauralgrad` for the training area: `assemble`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds `assemble` (training itself runs under `accelerate launch examples/train.py`)."""
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
    folder = assemble_pipeline(args.stage_one, args.stage_two, args.output, info=info,
                               overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote the pipeline to {folder}", file=sys.stderr)
    return 0
