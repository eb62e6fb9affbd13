"""Subcommands of `binauralgrad` for the data area: `geowarp` and `make-synthetic`."""

from __future__ import annotations

import argparse
import sys

from binauralgrad.constants import DRY_WALL_REFLECTION, WALL_REFLECTION


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds `geowarp` and `make-synthetic`."""
    geowarp = subparsers.add_parser(
        "geowarp",
        help="write binaural_geowarp.wav (the DSP baseline) into every sequence folder",
        description="For every sequence folder under DIR (one holding mono.wav and "
        "tx_positions.txt), write binaural_geowarp.wav: the original's geometric warp, "
        "float32 at 48 kHz. Existing files are kept unless --overwrite.",
    )
    geowarp.add_argument("dir", metavar="DIR", help="a data set, a split or one sequence folder")
    geowarp.add_argument("--overwrite", action="store_true", help="replace existing files")
    geowarp.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    geowarp.set_defaults(func=run_geowarp)

    synthetic = subparsers.add_parser(
        "make-synthetic",
        help="simulate a small data set in the Binaural Speech layout",
        description="Write trainset/ and testset/ (with validation_sequence/) from a simulator: "
        "a talker walking around a listener in a shoebox room, heard through a spherical "
        "head or a measured one (--hrtf).",
    )
    synthetic.add_argument("out_dir", metavar="OUT_DIR",
                           help="the data set folder to write (trainset/, testset/)")
    synthetic.add_argument("--train-minutes", type=float, default=4.0, metavar="M",
                           help="audio in trainset/, spread over its sequences (default: 4)")
    synthetic.add_argument("--test-minutes", type=float, default=1.0, metavar="M",
                           help="audio in testset/, spread over its sequences (default: 1)")
    synthetic.add_argument(
        "--sequences", type=int, default=8, metavar="N",
        help="subjects per split, plus testset/validation_sequence (default: 8)"
    )
    synthetic.add_argument("--seed", type=int, default=0, metavar="S",
                           help="every sequence is a function of it (default: 0); give a held-"
                                "out set another seed than its training set")
    synthetic.add_argument(
        "--speech-dir", metavar="DIR", help="use these recordings (wav/flac/ogg) as the talker"
    )
    synthetic.add_argument(
        "--hrtf", action="append", metavar="HEAD",
        help="the listener's head: spherical (the default), mit-kemar (the MIT KEMAR set of "
             "Debian's libmysofa1) or a SOFA file (SimpleFreeFieldHRIR, e.g. your personalised "
             "HRTF); repeat to mix heads, each sequence drawing one (a head named twice is "
             "drawn twice as often)")
    synthetic.add_argument(
        "--anechoic-share", type=float, default=0.0, metavar="F",
        help="fraction of sequences with no room, direct sound only (default: 0)")
    synthetic.add_argument(
        "--wall-reflection", type=float, nargs=2, default=WALL_REFLECTION,
        metavar=("LOW", "HIGH"),
        help="range of the walls' reflection coefficients (default: %(default)s, the original "
             f"simulator's; {DRY_WALL_REFLECTION[0]} {DRY_WALL_REFLECTION[1]} for treated rooms "
             "as recorded speech scenes have)")
    synthetic.add_argument("--overwrite", action="store_true", help="replace existing files")
    synthetic.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    synthetic.set_defaults(func=run_make_synthetic)


def run_geowarp(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad geowarp`."""
    from tqdm.auto import tqdm

    from binauralgrad.data.sequence import GEOWARP, find_sequences, write_geowarp

    written = kept = 0
    for folder in tqdm(find_sequences(args.dir), desc="geowarp", disable=args.quiet):
        if (folder / GEOWARP).exists() and not args.overwrite:
            kept += 1
            continue
        write_geowarp(folder, overwrite=args.overwrite)
        written += 1
    if not args.quiet:
        print(f"wrote {written} {GEOWARP} file(s); kept {kept} existing", file=sys.stderr)
    return 0


def run_make_synthetic(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad make-synthetic`."""
    from binauralgrad.data.synthetic import is_made, make_synthetic_dataset, synthetic_settings
    from binauralgrad.data.world import SPHERICAL, World

    world = World(tuple(args.hrtf or (SPHERICAL,)), args.anechoic_share,
                  tuple(args.wall_reflection))
    settings = synthetic_settings(args.train_minutes, args.test_minutes, args.sequences,
                                  args.seed, args.speech_dir, world)
    kept = not args.overwrite and is_made(args.out_dir, settings)
    folders = make_synthetic_dataset(
        args.out_dir,
        train_minutes=args.train_minutes,
        test_minutes=args.test_minutes,
        sequences=args.sequences,
        seed=args.seed,
        speech_dir=args.speech_dir,
        world=world,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    if not args.quiet:
        done = "kept the" if kept else "wrote"
        print(f"{done} {len(folders)} sequences under {args.out_dir}", file=sys.stderr)
    return 0
