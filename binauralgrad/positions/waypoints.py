"""Waypoints: a talker passing through given places at given times, smoothly interpolated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.positions.paths import (
    FACINGS,
    WALKING_SPEED_LIMIT_M_S,
    _choice,
    _finite,
    _Path,
    _positive,
    _towards_listener,
    yaw_quaternions,
)

INTERPOLATIONS = ("cubic", "linear")


@dataclass
class Waypoints(_Path):
    """A talker passing through `positions` ((N, 2) or (N, 3) metres) at `times_s` (N,).

    Positions between waypoints follow a natural cubic spline (smooth speed) or straight segments.
    Orientation: `orientations` (N, 4) tracked quaternions `qx qy qz qw` or `yaw_deg` (N,),
    interpolated by slerp; with neither, the talker faces the listener or the direction of travel
    (`facing`). The first time must be at or before 0 and the last at or after the audio's end.

    A talker walks: nowhere along the audio may the path move faster than `max_speed_m_s`
    (1.5 m/s by default, a brisk walk), or the rows would teach and test the models on motion no
    person makes. None lifts the limit, for a source that is not a walking talker.
    """

    times_s: list[float]
    positions: list[list[float]]
    orientations: list[list[float]] | None = None
    yaw_deg: list[float] | None = None
    interpolation: str = "cubic"
    facing: str = "listener"
    max_speed_m_s: float | None = WALKING_SPEED_LIMIT_M_S

    def __post_init__(self):
        times = _finite("times_s", self.times_s)
        if times.ndim != 1 or len(times) < 2:
            raise ValueError(f"times_s must list at least 2 times (one place: use Static), "
                             f"got {self.times_s!r}")
        for index in np.flatnonzero(np.diff(times) <= 0):
            raise ValueError(f"times_s must increase: times_s[{index + 1}] = {times[index + 1]:g}"
                             f" is not after times_s[{index}] = {times[index]:g}")
        if times[0] > 0:
            raise ValueError(f"the path starts at {times[0]:g} s, after the audio does: "
                             f"times_s[0] must be 0 or earlier")
        positions = _finite("positions", self.positions)
        if positions.shape not in ((len(times), 2), (len(times), 3)):
            raise ValueError(f"positions must be {len(times)} rows of (x, y) or (x, y, z), one "
                             f"per time, got shape {positions.shape}")
        if self.orientations is not None and self.yaw_deg is not None:
            raise ValueError("give orientations or yaw_deg, not both")
        if self.orientations is not None:
            quaternions = _finite("orientations", self.orientations)
            if quaternions.shape != (len(times), 4):
                raise ValueError(f"orientations must be {len(times)} rows of qx qy qz qw, got "
                                 f"shape {quaternions.shape}")
            if (np.linalg.norm(quaternions, axis=-1) < 1e-6).any():
                raise ValueError("orientations holds an all-zero quaternion")
        if self.yaw_deg is not None and _finite("yaw_deg", self.yaw_deg).shape != times.shape:
            raise ValueError(f"yaw_deg must hold {len(times)} angles, one per time")
        _choice("interpolation", self.interpolation, INTERPOLATIONS)
        _choice("facing", self.facing, FACINGS)
        if self.max_speed_m_s is not None:
            _positive("max_speed_m_s", self.max_speed_m_s)

    def _trajectory(self, times, num_samples):
        from scipy.interpolate import CubicSpline, make_interp_spline
        from scipy.spatial.transform import Rotation, Slerp

        knots = np.asarray(self.times_s, dtype=np.float64)
        if knots[-1] < times[-1]:
            raise ValueError(
                f"the path ends at {knots[-1]:g} s, but the audio lasts "
                f"{num_samples / SAMPLE_RATE:.3f} s (its last position row is at "
                f"{times[-1]:.3f} s): add a waypoint at or after {times[-1]:.3f} s")
        points = np.asarray(self.positions, dtype=np.float64)
        points = np.pad(points, ((0, 0), (0, 3 - points.shape[1])))
        path = (CubicSpline(knots, points, bc_type="natural") if self.interpolation == "cubic"
                else make_interp_spline(knots, points, k=1))
        xyz = path(times)
        self._check_speed(knots, path.derivative()(times), times)
        if self.orientations is not None or self.yaw_deg is not None:
            quaternions = (yaw_quaternions(np.radians(self.yaw_deg)) if self.orientations is None
                           else np.asarray(self.orientations, dtype=np.float64))
            quaternions = Slerp(knots, Rotation.from_quat(quaternions))(times).as_quat()
        elif self.facing == "listener":
            quaternions = yaw_quaternions(_towards_listener(xyz))
        else:
            quaternions = yaw_quaternions(_travel_yaw(path.derivative()(times)))
        return xyz, quaternions

    def _check_speed(self, knots: np.ndarray, velocity: np.ndarray, times: np.ndarray) -> None:
        if self.max_speed_m_s is None:
            return
        speed = np.linalg.norm(velocity, axis=-1)
        row = int(np.argmax(speed))
        if speed[row] > self.max_speed_m_s:
            after = int(np.clip(np.searchsorted(knots, times[row], side="right"), 1,
                                len(knots) - 1))
            raise ValueError(
                f"the talker would move at {speed[row]:.2f} m/s at {times[row]:.2f} s, between "
                f"waypoints {after - 1} and {after} (times_s {knots[after - 1]:g} and "
                f"{knots[after]:g}), faster than max_speed_m_s = {self.max_speed_m_s:g}: give "
                f"those waypoints more time, or max_speed_m_s=None for a source that is not a "
                f"walking talker")


def _travel_yaw(velocity: np.ndarray) -> np.ndarray:
    """Heading of travel; while the talker stands still it keeps the last heading it had."""
    moving = np.hypot(velocity[:, 0], velocity[:, 1]) > 1e-3  # m/s
    if not moving.any():
        raise ValueError("the talker never moves across the floor, so it has no direction of "
                         "travel; use facing='listener' or give orientations")
    held = np.maximum.accumulate(np.where(moving, np.arange(len(moving)), 0))
    held[: np.argmax(moving)] = np.argmax(moving)
    return np.unwrap(np.arctan2(velocity[held, 1], velocity[held, 0]))
