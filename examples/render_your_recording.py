"""Render your own mono recording as binaural audio along a path you describe, plus a top view.

    python examples/render_your_recording.py talk.flac talk_binaural.wav --circle 1.5 --period 8
    python examples/render_your_recording.py talk.wav out.wav --line -2,-3 -2,3 --speed 1.2
    python examples/render_your_recording.py talk.wav out.wav --azimuth -60 --distance 1
    python examples/render_your_recording.py talk.wav out.wav --path waypoints.json

Writes the binaural file, the 120 Hz rows it used (`out.positions.txt`) and a top view of the path
(`out.png`: the listener in the middle facing up the page, the talker's track coloured by time,
arrows where the talker faces). The recording may be any format and sample rate;
the model is the embedded default unless `--model` names another pipeline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from binauralgrad import BinauralGradPipeline, dsp
from binauralgrad.cli.path_options import (
    add_path_options,
    add_recording_arguments,
    describe_positions,
    positions_for,
)
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.plots import new_figure, save_figure
from binauralgrad.io.audio import limit_peak, read_mono, write_audio
from binauralgrad.io.positions import write_positions
from binauralgrad.positions import POSITION_RATE


def plot_top_view(rows: np.ndarray, path: Path, *, title: str, overwrite: bool) -> Path:
    """The talker's track seen from above, forward (+x) up and the listener's right (+y) right.

    Args:
        rows: (K, 7) rows `x y z qx qy qz qw` at 120 Hz.
    """
    from matplotlib.patches import Circle

    figure = new_figure(5.5, 5.5)
    axes = figure.add_subplot()
    track = axes.scatter(rows[:, 1], rows[:, 0], c=np.arange(len(rows)) / POSITION_RATE, s=4,
                         cmap="viridis")
    figure.colorbar(track, ax=axes, label="time (s)", shrink=0.8)
    reach = max(1.0, float(np.abs(rows[:, :2]).max()) + 0.3)
    mouth = dsp.mouth_position(torch.from_numpy(rows).double().T[None])[0].T.numpy()
    every = np.unique(np.linspace(0, len(rows) - 1, 12).round().astype(int))  # a dozen arrows
    facing = mouth[every, :2] - rows[every, :2]
    facing *= 0.12 * reach / np.linalg.norm(facing, axis=-1, keepdims=True)
    axes.quiver(rows[every, 1], rows[every, 0], facing[:, 1], facing[:, 0], color="tab:red",
                angles="xy", scale_units="xy", scale=1, width=0.006, label="talker faces")
    axes.add_patch(Circle((0, 0), 0.09, fill=False, color="black"))  # the listener's head
    axes.annotate("L", (-0.2, 0), ha="center", va="center")
    axes.annotate("R", (0.2, 0), ha="center", va="center")
    axes.plot([0], [0.18], marker="^", color="black", label="listener (faces up)")
    axes.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal", title=title,
             xlabel="y: listener's right (m)", ylabel="x: forward (m)")
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
    return save_figure(figure, path, overwrite)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_recording_arguments(parser)
    parser.add_argument("--channel", type=int, help="channel of a multichannel file, from 1")
    parser.add_argument("--downmix", action="store_true", help="average a multichannel file")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_path_options(parser)
    args = parser.parse_args(argv)

    try:
        source = describe_positions(args)
        mono, rate = read_mono(args.recording, channel=args.channel, downmix=args.downmix)
        rows, label = positions_for(source, len(mono), path_file=args.path)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"{args.recording}: {len(mono) / SAMPLE_RATE:.2f} s (read at {rate} Hz); path: {label}")

    pipe = BinauralGradPipeline.from_pretrained(args.model)
    out = pipe(mono, rows, generator=torch.Generator().manual_seed(args.seed), progress=False)
    audio, gain = limit_peak(out.audio.numpy())
    if gain < 1:
        print(f"scaled by {20 * np.log10(gain):.1f} dB so that the output does not clip")
    written = [write_audio(args.output, audio, overwrite=args.overwrite),
               write_positions(args.output.with_suffix(".positions.txt"), rows,
                               overwrite=args.overwrite),
               plot_top_view(rows, args.output.with_suffix(".png"), title=args.recording.name,
                             overwrite=args.overwrite)]
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
