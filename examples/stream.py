"""Stream a recording through the model live: real-time-sized blocks in, both ears out.

    python examples/stream.py talk.flac talk_stream.wav --circle 1.5 --period 8
    python examples/stream.py talk.wav out.wav --azimuth 60 --block-ms 20 --no-pace

The recording is fed as a live source would deliver it: a block of `--block-ms` at a time, each
pushed once its audio would have arrived (`--no-pace` pushes as fast as the stream takes them),
with the 120 Hz rows of a talker on the path you describe. It reports the stream's latency,
whether each block was done before the next arrived, the real-time factor and the slowest block,
and writes what came out (the same audio as `pipe(mono, positions)` with the same seed).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from binauralgrad import BinauralGradPipeline
from binauralgrad.cli.path_options import (
    add_path_options,
    add_recording_arguments,
    describe_positions,
    positions_for,
)
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.speed import run_stream
from binauralgrad.io.audio import limit_peak, read_mono, write_audio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_recording_arguments(parser, live=True)
    parser.add_argument("--block-ms", type=float, default=20.0,
                        help="audio per push in milliseconds (default %(default)g)")
    parser.add_argument("--no-pace", dest="pace", action="store_false",
                        help="push blocks as fast as the stream takes them, not live")
    parser.add_argument("--bf16", action="store_true", help="compute in bfloat16")
    parser.add_argument("--no-overlap", dest="overlap", action="store_const", const=False,
                        help="run the two stages in turn (a block less latency), even where "
                             "running them at once would keep up better")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_path_options(parser)
    args = parser.parse_args(argv)
    block = round(args.block_ms * SAMPLE_RATE / 1000)
    try:
        if block < 1:
            raise ValueError(f"--block-ms must be at least 1/48 ms, got {args.block_ms}")
        source = describe_positions(args)
        mono, rate = read_mono(args.recording)
        rows, label = positions_for(source, len(mono), path_file=args.path)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"{args.recording}: {len(mono) / SAMPLE_RATE:.2f} s (read at {rate} Hz); path: {label}")

    pipe = BinauralGradPipeline.from_pretrained(args.model)
    run = run_stream(pipe, torch.from_numpy(mono), torch.from_numpy(rows), block,
                     generator=torch.Generator().manual_seed(args.seed), pace=args.pace,
                     dtype=torch.bfloat16 if args.bf16 else None, overlap=args.overlap)
    report = run.summary()
    overlapped = ", and a block: the stages ran at once" if run.overlap else ""
    print(f"latency {report['latency_ms']:.1f} ms (algorithmic{overlapped}) + "
          f"{report['block_ms']:g} ms "
          f"(block); real-time factor {report['rtf']:.2f}; pushes: 95 % within "
          f"{report['p95_block_ms']:.1f} ms, slowest {report['worst_block_ms']:.1f} ms, "
          f"{100 * report['on_time_share']:.0f} % on time; most lag {report['max_lag_ms']:.1f} ms")
    # Only where the user chose stages in turn: a model too small to overlap gains nothing.
    helps = "the stages at once (leave out --no-overlap), " if args.overlap is False else ""
    print("kept up with real time" if run.kept_up else
          "served a live source (95 % of pushes on time)" if run.real_time else
          f"fell behind real time ({helps}a smaller model, fewer steps or larger blocks would "
          "help; on a CPU bfloat16 streams slower)")
    audio, gain = limit_peak(run.audio.numpy())
    if gain < 1:
        print(f"scaled by {20 * np.log10(gain):.1f} dB so that the output does not clip")
    print(f"wrote {write_audio(args.output, audio, overwrite=args.overwrite)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
