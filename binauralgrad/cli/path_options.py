"""Command-line options that say where the talker is: a tracking file or a path description."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from binauralgrad.positions import Circle, Line, Static, Waypoints, load_path
from binauralgrad.positions.paths import DEFAULT_PERIOD_S, DIRECTIONS, FACINGS

CHOICES = """no talker position given; pass one of:
  --positions tx_positions.txt               tracking rows (120 Hz x y z qx qy qz qw)
  --azimuth DEG [--elevation DEG] [--distance M] [--yaw DEG]   standing still
  --circle RADIUS [--period S | --speed M_S] [--direction ...] walking round the listener
  --line X0,Y0 X1,Y1 [--speed M_S]           walking past
  --path waypoints.json                      times and places (see the README)"""
_KIND_OPTIONS = {"positions": ("positions",), "static": ("azimuth", "elevation", "distance", "yaw"),
                 "circle": ("circle",), "line": ("line",), "path": ("path",)}
# Which options each kind accepts besides its own.
_MODIFIERS = {"period": ("circle",), "direction": ("circle",), "speed": ("circle", "line"),
              "facing": ("circle", "line")}
# argparse takes "-2,3" for an option; these patterns let coordinates and angles start with "-".
_NEGATIVE_NUMBERS = re.compile(r"^-\.?\d[\d.eE+-]*(,-?\.?\d[\d.eE+-]*)*$")


def point(text: str) -> tuple[float, ...]:
    """`X,Y` or `X,Y,Z` in metres, as --line takes them."""
    try:
        values = tuple(float(value) for value in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected X,Y or X,Y,Z in metres, got {text!r}")
    return values


def add_recording_arguments(parser: argparse.ArgumentParser, *, live: bool = False) -> None:
    """The examples' recording in, binaural file out, and the model that renders it (the
    embedded default, or with `live` the embedded live model, which streams in real time)."""
    from binauralgrad.constants import DEFAULT_MODEL_DIR, LIVE_MODEL_DIR

    parser.add_argument("recording", type=Path, help="mono recording: WAV, FLAC, OGG, any rate")
    parser.add_argument("output", type=Path, help="binaural file to write (.wav, .flac, .ogg)")
    model, name = (LIVE_MODEL_DIR, "live") if live else (DEFAULT_MODEL_DIR, "default")
    parser.add_argument("--model", default=str(model),
                        help=f"pipeline folder or Hub repo id (default: the embedded {name} model)")


def add_path_options(parser: argparse.ArgumentParser) -> None:
    """Adds --positions, --azimuth ..., --circle ..., --line ... and --path to a parser."""
    parser._negative_number_matcher = _NEGATIVE_NUMBERS
    group = parser.add_argument_group(
        "where the talker is (one way: a file, a standing talker, a circle, a line or a path)",
        "The listener sits at the origin facing +x; azimuth counts towards the listener's "
        "right: 0 ahead, 90 right, -90 left, 180 behind (SOFA counts the other way: +90 is "
        "left there, so pass minus a SOFA azimuth).")
    group.add_argument("--positions", type=Path, metavar="FILE",
                       help="tracking file, ceil(T / 400) rows `x y z qx qy qz qw` at 120 Hz "
                            "(the data set's tx_positions.txt) (default: none)")
    group.add_argument("--azimuth", type=float, metavar="DEG",
                       help="a talker standing still at this azimuth (default 0 when only "
                            "--elevation, --distance or --yaw is given)")
    group.add_argument("--elevation", type=float, metavar="DEG",
                       help="height of the standing talker as an angle above the horizontal, "
                            "-90 .. 90 (default 0: level with the listener)")
    group.add_argument("--distance", type=float, metavar="M",
                       help="metres from the listener to the standing talker, at least 0.2 "
                            "(default 1.5)")
    group.add_argument("--yaw", type=float, metavar="DEG",
                       help="where the standing talker faces, counted like azimuth (default: "
                            "facing the listener)")
    group.add_argument("--circle", type=float, metavar="RADIUS",
                       help="a talker walking round the listener at this radius in metres, "
                            "starting ahead (default: none)")
    group.add_argument("--period", type=float, metavar="S",
                       help=f"seconds per lap of --circle (default {DEFAULT_PERIOD_S:g})")
    group.add_argument("--direction", choices=DIRECTIONS,
                       help="of --circle, seen from above: clockwise goes ahead -> right -> "
                            "behind (default clockwise)")
    group.add_argument("--line", nargs=2, type=point, metavar=("X0,Y0", "X1,Y1"),
                       help="a talker walking from one point to another (metres, x forward, "
                            "y right; X,Y,Z also works) (default: none)")
    group.add_argument("--speed", type=float, metavar="M_S",
                       help="walking speed in m/s: of --circle instead of --period, or of --line "
                            "(default for --line: the walk spans the whole recording)")
    group.add_argument("--facing", choices=FACINGS,
                       help="whom the walking talker faces: the listener, or where it walks "
                            "(default: listener for --circle, travel for --line)")
    group.add_argument("--path", type=Path, metavar="FILE.json",
                       help='a path description in JSON, e.g. waypoints {"times_s": [0, 4], '
                            '"positions": [[1, -1], [1, 1]]} (default: none)')


def _given(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name, None) is not None


def describe_positions(args: argparse.Namespace) -> Path | Static | Circle | Line | Waypoints:
    """The tracking file or path description the options name, checked for conflicts.

    Raises:
        ValueError: listing the choices when none is given, or naming the clashing options.
    """
    kinds = [kind for kind, names in _KIND_OPTIONS.items()
             if any(_given(args, name) for name in names)]
    if not kinds:
        raise ValueError(CHOICES)
    if len(kinds) > 1:
        given = [f"--{name}" for kind in kinds for name in _KIND_OPTIONS[kind]
                 if _given(args, name)]
        raise ValueError(f"{' and '.join(given)} describe different paths; give one of them")
    kind = kinds[0]
    for name, kinds_taking_it in _MODIFIERS.items():
        if _given(args, name) and kind not in kinds_taking_it:
            takers = " or ".join(f"--{taker}" for taker in kinds_taking_it)
            raise ValueError(f"--{name} goes with {takers}, not with --{_KIND_OPTIONS[kind][0]}")
    if kind == "positions":
        return args.positions
    if kind == "path":
        return load_path(args.path)
    if kind == "static":
        return Static(**_some(azimuth_deg=args.azimuth, elevation_deg=args.elevation,
                              distance_m=args.distance, yaw_deg=args.yaw))
    if kind == "circle":
        return Circle(radius_m=args.circle, **_some(period_s=args.period, speed_m_s=args.speed,
                                                    direction=args.direction, facing=args.facing))
    return Line(start=args.line[0], end=args.line[1],
                **_some(speed_m_s=args.speed, facing=args.facing))


def _some(**values) -> dict:
    """The values that were given, so that the descriptions' own defaults apply to the rest."""
    return {name: value for name, value in values.items() if value is not None}


def positions_for(source, num_samples: int, *, path_file: Path | None = None
                  ) -> tuple[np.ndarray, str]:
    """Rows for `num_samples` of audio from `describe_positions`'s result, and what they are.

    Args:
        source: a tracking file's path, or a description.
        num_samples: T, the audio's length at 48 kHz.
        path_file: the JSON file the description came from, for the label.

    Returns:
        (ceil(T / 400), 7) float32 rows, and a one-line label for the user.

    Raises:
        ValueError: rows that do not cover the audio, or a path that ends before it.
    """
    from binauralgrad.constants import FRAME_SAMPLES
    from binauralgrad.io.positions import read_positions

    if isinstance(source, Path):
        rows = read_positions(source)
        frames = -(-num_samples // FRAME_SAMPLES)
        if len(rows) != frames:
            # The pipeline's own wording, before the model loads, naming the file.
            raise ValueError(f"{source}: positions has {len(rows)} rows, but {num_samples} samples "
                             f"at 48 kHz need ceil({num_samples} / {FRAME_SAMPLES}) = {frames} "
                             f"rows at 120 Hz")
        return rows, f"tracking rows from {source}"
    if isinstance(source, Waypoints):
        label = (f"{len(source.times_s)} waypoints over {source.times_s[0]:g} .. "
                 f"{source.times_s[-1]:g} s ({source.interpolation})")
    else:
        label = repr(source)
    return source.rows(num_samples), label if path_file is None else f"{label} from {path_file}"
