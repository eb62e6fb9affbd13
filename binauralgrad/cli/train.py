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
    assemble.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    assemble.add_argument("--quiet", action="store_true", help="no summary")
    assemble.set_defaults(func=run_assemble)


def run_assemble(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad assemble`."""
    from binauralgrad.training.export import assemble_pipeline

    folder = assemble_pipeline(args.stage_one, args.stage_two, args.output,
                               overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote the pipeline to {folder}", file=sys.stderr)
    return 0
