"""`binauralgrad synthesize`: one mono recording plus its positions to a binaural WAV."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from binauralgrad.audio_io import read_positions, read_wav, write_wav
from binauralgrad.chunking import DEFAULT_OVERLAP_S
from binauralgrad.hub import DEFAULT_MODEL_DIR

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synthesize", help="synthesise binaural audio from mono.wav + tx_positions.txt",
        description="Synthesise the two ears' signals from mono speech and the talker's positions.")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR),
                        help="pipeline folder or Hub repo id (default: the embedded small model)")
    parser.add_argument("--mono", required=True, type=Path, help="mono WAV, 48 kHz")
    parser.add_argument("--positions", required=True, type=Path,
                        help="tx_positions.txt: 120 Hz rows x y z qx qy qz qw")
    parser.add_argument("--output", required=True, type=Path, help="binaural WAV to write")
    add_sampling_options(parser)
    speed = parser.add_argument_group("long inputs and speed")
    speed.add_argument("--chunk-seconds", type=float,
                       help="cut the input into chunks of this length, sampled in batches and "
                            "cross-faded (default: one wavefront over the whole input, which is "
                            "already flat in memory)")
    speed.add_argument("--overlap-seconds", type=float, default=DEFAULT_OVERLAP_S,
                       help="context each side of a chunk (default %(default)s s)")
    speed.add_argument("--max-memory-mb", type=float,
                       help="working-memory budget; sets the tile and chunks per batch")
    speed.add_argument("--compile", action="store_true",
                       help="torch.compile the fast path's elementwise gate")
    parser.set_defaults(func=run_synthesize)


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the commands that run the pipeline."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    parser.add_argument("--full", action="store_true",
                        help="sample with all 200 training steps instead of the fast 6")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def load_pipeline(args: argparse.Namespace):
    from binauralgrad.pipeline import BinauralGradPipeline

    return BinauralGradPipeline.from_pretrained(args.model, device=args.device,
                                                dtype=DTYPES[args.dtype])


def synthesize_file(pipeline, mono_path: Path, positions_path: Path, output: Path,
                    args: argparse.Namespace) -> Path:
    """Reads the inputs, runs the pipeline and writes a float32 (2, T) WAV atomically."""
    if output.exists() and not args.overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    mono = read_wav(mono_path, channels=1)[0]
    positions = read_positions(positions_path)
    generator = torch.Generator().manual_seed(args.seed)
    result = pipeline(mono, positions, generator=generator, fast=not args.full,
                      progress=not args.quiet, chunk_seconds=args.chunk_seconds,
                      overlap_seconds=args.overlap_seconds, max_memory_mb=args.max_memory_mb,
                      compile=args.compile)
    return write_wav(output, result.audio.cpu().numpy(), overwrite=args.overwrite)


def run_synthesize(args: argparse.Namespace) -> int:
    for path in (args.mono, args.positions):
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
    if args.output.exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} exists; pass --overwrite to replace it")
    written = synthesize_file(load_pipeline(args), args.mono, args.positions, args.output, args)
    print(f"wrote {written}")
    return 0
