"""`binauralgrad evaluate` (the paper's table for a folder of predictions) and `benchmark`."""

from __future__ import annotations

import argparse
from pathlib import Path

from binauralgrad.cli.synthesize import add_room_option
from binauralgrad.constants import EVALUATION_PROTOCOLS as PROTOCOLS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `evaluate` and `benchmark` subcommands."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score predicted binaural WAVs against a test set (the paper's table)",
        description="Score PRED_DIR/<sequence>.wav against each sequence's binaural.wav in REF_DIR;"
        " metrics are averaged over sequences weighted by length.",
    )
    parser.add_argument("pred_dir", type=Path, metavar="PRED_DIR", help="folder of <sequence>.wav")
    parser.add_argument("ref_dir", type=Path, metavar="REF_DIR", help="test set folder")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all numbers as JSON")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write PNG figures into DIR")
    _add_common_options(parser)
    parser.set_defaults(func=run_evaluate)

    parser = subparsers.add_parser(
        "benchmark",
        help="synthesise a test set with a model and the DSP baseline, then score both",
        description="Synthesise every test sequence with the model and with the geometric warp"
        " (resumable: existing WAVs are kept), then write results.md, results.json and plots/ into"
        " the output folder. Under `accelerate launch` the sequences are split across processes.",
    )
    parser.add_argument("--model", required=True, help="pipeline folder or Hub repo id")
    parser.add_argument("--testset", required=True, type=Path, help="test set folder")
    parser.add_argument("--output-dir", required=True, type=Path, help="folder for audio + results")
    parser.add_argument("--seed", type=int, default=0, help="seed of sequence i's noise is seed+i")
    parser.add_argument("--full", action="store_true", help="sample with all 200 steps, not 6")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                        help="the model's compute precision (default: float32)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    add_room_option(parser)
    _add_common_options(parser)
    parser.set_defaults(func=run_benchmark)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="paper",
        help="paper: PESQ of the left ear's first 5 s (default); full: also whole-length,"
        " both-ears PESQ",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_evaluate(args: argparse.Namespace) -> int:
    from binauralgrad.evaluation.folder import (
        evaluate_pairs,
        format_table,
        pair_sequences,
        write_json,
    )

    pairs = pair_sequences(args.pred_dir, args.ref_dir)
    # Refuse before the long part rather than after it.
    if args.json:
        _refuse_existing(args.json, args.overwrite)
    if args.plot:
        from binauralgrad.evaluation.plots import plot_files

        if args.plot.exists() and not args.plot.is_dir():
            raise ValueError(f"--plot {args.plot} is a file, not a folder")
        for path in plot_files(args.plot, [pair.name for pair in pairs]):
            _refuse_existing(path, args.overwrite)
    result = evaluate_pairs(pairs, protocol=args.protocol, progress=not args.quiet)
    print(format_table({**result.sequences, "overall": result.overall}, first_column="Sequence"))
    if args.json:
        write_json(args.json, result.to_dict(), overwrite=args.overwrite)
        print(f"wrote {args.json}")
    if args.plot:
        from binauralgrad.evaluation.plots import write_plots

        files = {p.name: {"reference": p.reference, "prediction": p.prediction} for p in pairs}
        write_plots(
            args.plot,
            files,
            {"prediction": result.sequences},
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
        print(f"wrote figures into {args.plot}")
    return 0


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")


def run_benchmark(args: argparse.Namespace) -> int:
    import torch
    from accelerate import PartialState

    from binauralgrad.evaluation.benchmark import run_benchmark as benchmark

    benchmark(
        args.model,
        args.testset,
        args.output_dir,
        seed=args.seed,
        fast=not args.full,
        dtype=getattr(torch, args.dtype),
        protocol=args.protocol,
        plots=not args.no_plots,
        room=args.room,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    # This process is ours: close its group (under torchrun / `accelerate launch`) so that gloo's
    # threads do not abort the interpreter's exit.
    PartialState().destroy_process_group()
    return 0
