"""`binauralgrad synthesize`: one mono recording plus where its talker is, to a binaural file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from binauralgrad.cli.path_options import add_path_options, describe_positions, positions_for
from binauralgrad.constants import DEFAULT_MODEL_DIR, DEFAULT_OVERLAP_S, SAMPLE_RATE

DTYPES = ("float32", "bfloat16", "float16")  # torch dtype names
# Suffixes `write_audio` writes (binauralgrad.audio_io.OUTPUT_FORMATS, which loads soundfile).
OUTPUT_SUFFIXES = (".wav", ".flac", ".ogg")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synthesize", help="synthesise binaural audio from a mono recording and a talker path",
        description="Synthesise the two ears' signals from mono speech and where the talker is: "
                    "a tracking file, or a path described on the command line.")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR),
                        help="pipeline folder or Hub repo id (default: the embedded small model)")
    parser.add_argument("--mono", required=True, type=Path,
                        help="the recording: WAV, FLAC, OGG or anything soundfile reads, at any "
                             "sample rate (resampled to 48 kHz) (required)")
    parser.add_argument("--output", required=True, type=Path,
                        help=f"binaural file to write ({', '.join(OUTPUT_SUFFIXES)}: float WAV, "
                             f"24-bit FLAC, Vorbis); the rows used go beside it as "
                             f"NAME.positions.txt (required)")
    parser.add_argument("--channel", type=int, metavar="N",
                        help="for a multichannel recording: the channel to use, counting from 1 "
                             "(default: none; a multichannel file needs this or --downmix)")
    parser.add_argument("--downmix", action="store_true",
                        help="for a multichannel recording: average its channels (default: off)")
    parser.add_argument("--output-rate", type=int, default=SAMPLE_RATE, metavar="HZ",
                        help="sample rate of the written file (default %(default)s, the model's)")
    parser.add_argument("--keep-level", action="store_true",
                        help="write the model's level even where it exceeds full scale (a float "
                             "WAV keeps such samples, FLAC/OGG clip them; either is reported) "
                             "(default: off, a too-loud output is scaled down to a 0.99 peak)")
    add_path_options(parser)
    add_sampling_options(parser)
    speed = parser.add_argument_group("long inputs and speed")
    speed.add_argument("--chunk-seconds", type=float,
                       help="cut the input into chunks of this length, sampled in batches and "
                            "cross-faded (default: one wavefront over the whole input, which is "
                            "already flat in memory)")
    speed.add_argument("--overlap-seconds", type=float, default=DEFAULT_OVERLAP_S,
                       help="context each side of a chunk (default %(default)s s)")
    speed.add_argument("--max-memory-mb", type=float,
                       help="working-memory budget; sets the tile and chunks per batch "
                            "(default: no budget)")
    speed.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)  # deprecated
    parser.set_defaults(func=run_synthesize)


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run the pipeline."""
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sampling noise (default %(default)s)")
    parser.add_argument("--full", action="store_true",
                        help="sample with all 200 training steps instead of the fast 6 "
                             "(default: the fast 6)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:1, ... (default %(default)s)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="precision of the models (default %(default)s)")
    add_room_option(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing outputs (default: refuse)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (default: a progress bar)")


def add_room_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--room", metavar="NAME", default=None,
                        help="the kind of room to render: one of the pipeline's rooms, e.g. "
                             "`reverberant` for the embedded models (default: the room the model "
                             "was saved for, the one its stages were trained in)")


def load_pipeline(args: argparse.Namespace):
    from binauralgrad.app.session import load_pipeline

    pipeline = load_pipeline(args.model, device=args.device, dtype=args.dtype)
    if args.room is not None:
        pipeline.room = args.room
    return pipeline


def positions_path(output: Path) -> Path:
    """Where the rows used for `output` are written: out.wav -> out.positions.txt."""
    return output.with_suffix(".positions.txt")


def check_outputs(args: argparse.Namespace) -> None:
    """Refuses up front what would only fail after synthesis: a kept file, an unknown format."""
    if args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output {args.output}: use one of {', '.join(OUTPUT_SUFFIXES)}")
    if args.output_rate <= 0:
        raise ValueError(f"--output-rate must be a positive number of Hz, got {args.output_rate}")
    for path in (args.output, positions_path(args.output)):
        if path.exists() and not args.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")


def fit_level(audio, args: argparse.Namespace):
    """Scales an output beyond full scale down, or with --keep-level reports it: never silent."""
    import numpy as np

    from binauralgrad.io.audio import limit_peak

    peak = float(np.abs(audio).max())
    if peak <= 1.0:
        return audio
    loudness = f"the output peaks at {peak:.3f} ({20 * np.log10(peak):+.1f} dBFS)"
    if not args.keep_level:
        audio, gain = limit_peak(audio)
        print(f"{loudness}: scaled by {20 * np.log10(gain):.1f} dB so that it does not clip "
              f"(--keep-level keeps the level)")
        return audio
    over = int((np.abs(audio) > 1.0).sum())
    fate = ("kept as float values above 1.0, which players will clip"
            if args.output.suffix.lower() == ".wav" else "clipped in the file")
    print(f"warning: {loudness}; {over} samples over full scale are {fate}", file=sys.stderr)
    return audio


def run_synthesize(args: argparse.Namespace) -> int:
    # The page (`binauralgrad app`) reads, checks and renders with the same functions.
    from binauralgrad.app.session import load_recording, model_label, render
    from binauralgrad.io.audio import resample, write_audio
    from binauralgrad.io.positions import write_positions

    source = describe_positions(args)  # before the slow parts: option mistakes fail at once
    check_outputs(args)
    mono, file_rate = load_recording(args.mono, channel=args.channel, downmix=args.downmix)
    rows, path_label = positions_for(source, len(mono), path_file=args.path)
    pipeline = load_pipeline(args)
    if args.compile:
        print("note: --compile is deprecated and has no effect (the fast path no longer compiles "
              "its gate: it was no faster)", file=sys.stderr)
    rate_note = "" if file_rate == SAMPLE_RATE else f", resampled from {file_rate} Hz"
    print(f"model: {model_label(args.model)}")
    print(f"path: {path_label}")
    print(f"input: {args.mono} ({len(mono) / SAMPLE_RATE:.2f} s at 48 kHz{rate_note})")
    audio = render(pipeline, mono, rows, seed=args.seed, steps="full" if args.full else "fast",
                   progress=not args.quiet, chunk_seconds=args.chunk_seconds,
                   overlap_seconds=args.overlap_seconds,
                   max_memory_mb=args.max_memory_mb).binaural
    if args.output_rate != SAMPLE_RATE:
        audio = resample(audio, SAMPLE_RATE, args.output_rate)
    written = write_audio(args.output, fit_level(audio, args), sample_rate=args.output_rate,
                          overwrite=args.overwrite)
    rows_written = write_positions(positions_path(args.output), rows, overwrite=args.overwrite)
    print(f"wrote {written} ({args.output_rate} Hz) and {rows_written}")
    return 0
