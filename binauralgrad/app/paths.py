"""Where the talker is, as the page asks it: one description, its rows and its command line."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from binauralgrad.positions import Circle, Line, Static, Waypoints, load_path
from binauralgrad.positions.paths import DEFAULT_PERIOD_S

# The page's ways to place the talker, as the command line has them (`--path` JSON files and
# tracking rows both come in as an uploaded file).
KINDS = ("standing", "circle", "line", "file")
PREVIEW_S = 8.0  # the top view's length before a recording is there
# The fields each kind needs a number in (a page's number box can be left empty).
_NUMBERS = {"standing": ("azimuth_deg", "elevation_deg", "distance_m"),
            "circle": ("radius_m", "period_s"), "line": ("start", "end"), "file": ()}


@dataclass
class PathSettings:
    """The page's path controls; only the fields of `kind` are used.

    `speed_m_s` 0 or None: a line spans the whole recording. `file`: a tracking file
    (`x y z qx qy qz qw` rows at 120 Hz) or a path description in JSON (`--path`).
    """

    kind: str = "circle"
    azimuth_deg: float = 45.0
    elevation_deg: float = 0.0
    distance_m: float = 1.5
    radius_m: float = 1.5
    period_s: float = DEFAULT_PERIOD_S
    direction: str = "clockwise"
    start: tuple[float, float] = (2.0, -3.0)
    end: tuple[float, float] = (2.0, 3.0)
    speed_m_s: float | None = None
    file: Path | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        for name in _NUMBERS[self.kind]:
            value = getattr(self, name)
            if value is None or (isinstance(value, tuple) and None in value):
                raise ValueError(f"{name} is empty: give a number")
        if self.kind == "file" and not self.file:
            raise ValueError("no positions file: upload a tracking file (x y z qx qy qz qw rows "
                             "at 120 Hz) or a path description (.json)")
        if self.file:
            self.file = Path(self.file)

    def description(self) -> Path | Static | Circle | Line | Waypoints:
        """What `cli.path_options.describe_positions` makes of `options()`.

        Raises:
            ValueError: a value the description refuses (too close, an unknown direction, ...).
        """
        if self.kind == "standing":
            return Static(azimuth_deg=self.azimuth_deg, elevation_deg=self.elevation_deg,
                          distance_m=self.distance_m)
        if self.kind == "circle":
            return Circle(radius_m=self.radius_m, period_s=self.period_s,
                          direction=self.direction)
        if self.kind == "line":
            return Line(start=tuple(self.start), end=tuple(self.end),
                        speed_m_s=self.speed_m_s or None)
        if self.file.suffix.lower() == ".json":
            return load_path(self.file)
        return self.file

    def options(self) -> list[str]:
        """The command line's options that describe the same path."""
        if self.kind == "standing":
            return ["--azimuth", _number(self.azimuth_deg), "--elevation",
                    _number(self.elevation_deg), "--distance", _number(self.distance_m)]
        if self.kind == "circle":
            return ["--circle", _number(self.radius_m), "--period", _number(self.period_s),
                    "--direction", self.direction]
        if self.kind == "line":
            speed = ["--speed", _number(self.speed_m_s)] if self.speed_m_s else []
            return ["--line", ",".join(map(_number, self.start)),
                    ",".join(map(_number, self.end)), *speed]
        option = "--path" if self.file.suffix.lower() == ".json" else "--positions"
        return [option, self.file.name]

    def summary(self) -> str:
        """One line for a person: what the path is, without the fields left at no effect."""
        if self.kind == "standing":
            return (f"standing at azimuth {self.azimuth_deg:g} deg, elevation "
                    f"{self.elevation_deg:g} deg, {self.distance_m:g} m away")
        if self.kind == "circle":
            return (f"walking a circle of {self.radius_m:g} m, {self.period_s:g} s a lap, "
                    f"{self.direction}")
        if self.kind == "line":
            pace = f"at {self.speed_m_s:g} m/s" if self.speed_m_s else "over the whole clip"
            return (f"walking from ({', '.join(map(_number, self.start))}) to "
                    f"({', '.join(map(_number, self.end))}) m {pace}")
        what = "the path described in" if self.path_file else "the tracking rows of"
        return f"{what} {self.file.name}"

    @property
    def path_file(self) -> Path | None:
        """The JSON file a description came from (for its label), else None."""
        if self.kind == "file" and self.file.suffix.lower() == ".json":
            return self.file
        return None


def _number(value: float) -> str:
    return f"{float(value):g}"


def rows_for(settings: PathSettings, num_samples: int):
    """(ceil(T / 400), 7) float32 rows for T samples at 48 kHz, as the command line makes them.

    Raises:
        ValueError / FileNotFoundError: the command line's message for the same mistake (a
            bad file, rows or a walk that do not cover the audio, a talker too close).
    """
    from binauralgrad.cli.path_options import positions_for

    return positions_for(settings.description(), num_samples, path_file=settings.path_file)[0]


def command_line(recording: str, settings: PathSettings, *, model: str | None = None,
                 seed: int = 0, channel: int | None = None, downmix: bool = False) -> str:
    """The `binauralgrad synthesize` command that renders what the page would.

    Args:
        recording: the recording's file name. model: the pipeline (None: the default).
        seed, channel, downmix: as the page has them.
    """
    stem = Path(recording).stem or "recording"
    argv = ["binauralgrad", "synthesize", "--mono", Path(recording).name,
            "--output", f"{stem}_binaural.wav", *settings.options(), "--seed", str(seed)]
    if model is not None:
        argv[2:2] = ["--model", str(model)]
    if channel is not None:
        argv += ["--channel", str(channel)]
    if downmix:
        argv.append("--downmix")
    return shlex.join(argv)
