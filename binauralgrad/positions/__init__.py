"""Tracking rows from descriptions: a talker standing still, circling, walking a line or waypoints.

The rows are the data set's: the listener's tracked head at the origin, x forward, y to the
listener's right, z up (metres), and the talker's tracked head as `x y z qx qy qz qw` at 120 Hz,
one row per 400 samples at 48 kHz. Angles:

- azimuth: from straight ahead (0) towards the listener's right, +90 = right, -90 = left, 180 =
  behind, i.e. atan2(y, x). SOFA (AES69) counts the other way, +90 = left: sofa = -azimuth.
- elevation: above the horizontal plane through the listener's tracked point, +90 = overhead.
- yaw: the direction the talker's face points, measured like azimuth (0 = the way the listener
  faces, 90 = towards the listener's right). Talkers are upright (no pitch or roll).

SOFA's frame has y to the left, so (x, y, z) here is (x, -y, z) there. Heights: z = 0 puts the
talker's tracked point level with the listener's; the mouth is 9 cm in front of it and 20 cm
below, the listener's ears 22 cm below theirs (dsp.MOUTH_OFFSET, dsp.LEFT_EAR, dsp.RIGHT_EAR).

The dataset's geometry (dsp.mouth_position) rotates the mouth offset by the inverse of the tracked
rotation, so an upright talker facing yaw has the tracked quaternion of a rotation by -yaw about z.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import numpy as np

from binauralgrad.positions.paths import (
    MIN_DISTANCE_M,
    POSITION_RATE,
    WALKING_SPEED_LIMIT_M_S,
    Circle,
    Line,
    Static,
    frame_times,
    yaw_quaternions,
)
from binauralgrad.positions.waypoints import Waypoints

__all__ = ["POSITION_RATE", "MIN_DISTANCE_M", "WALKING_SPEED_LIMIT_M_S", "Static", "Circle",
           "Line", "Waypoints", "KINDS", "static", "circle", "line", "waypoints", "load_path",
           "frame_times", "yaw_quaternions"]

KINDS = {"static": Static, "circle": Circle, "line": Line, "waypoints": Waypoints}


def static(num_samples: int, **description) -> np.ndarray:
    """(ceil(num_samples / 400), 7) rows of a `Static` talker (keyword arguments as its fields)."""
    return Static(**description).rows(num_samples)


def circle(num_samples: int, **description) -> np.ndarray:
    """(ceil(num_samples / 400), 7) rows of a `Circle` (keyword arguments as its fields)."""
    return Circle(**description).rows(num_samples)


def line(num_samples: int, **description) -> np.ndarray:
    """(ceil(num_samples / 400), 7) rows of a `Line` walk (keyword arguments as its fields)."""
    return Line(**description).rows(num_samples)


def waypoints(num_samples: int, **description) -> np.ndarray:
    """(ceil(num_samples / 400), 7) rows of `Waypoints` (keyword arguments as its fields)."""
    return Waypoints(**description).rows(num_samples)


def load_path(path: str | os.PathLike) -> Static | Circle | Line | Waypoints:
    """Reads a path description from JSON: `{"kind": "waypoints", "times_s": [...], ...}`.

    The keys are the fields of the kind's class; `kind` defaults to "waypoints".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such path file: {path}")
    try:
        description = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(description, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(description).__name__}")
    kind = description.pop("kind", "waypoints")
    if kind not in KINDS:
        raise ValueError(f"{path}: kind must be one of {', '.join(KINDS)}; got {kind!r}")
    known = {field.name for field in fields(KINDS[kind])}
    unknown = sorted(set(description) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)} for kind {kind!r} "
                         f"(known: {', '.join(sorted(known))})")
    try:
        return KINDS[kind](**description)
    except TypeError as error:  # a required field left out
        raise ValueError(f"{path}: {error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
