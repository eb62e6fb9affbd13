"""`binauralgrad convert-original`: the paper's released checkpoints to a pipeline folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-original", help="convert the original BinauralGrad .pt checkpoints",
        description="Convert the two original training checkpoints (read with weights_only=True) "
                    "into a pipeline folder with safetensors weights.")
    parser.add_argument("--stage-one", required=True, type=Path, help="stage-one .pt checkpoint")
    parser.add_argument("--stage-two", required=True, type=Path, help="stage-two .pt checkpoint")
    parser.add_argument("--output", required=True, type=Path, help="pipeline folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    parser.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from binauralgrad.io.original import convert_original

    folder = convert_original(args.stage_one, args.stage_two, args.output, overwrite=args.overwrite)
    print(f"wrote pipeline folder {folder}")
    return 0
