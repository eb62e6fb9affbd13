"""The parametric paths: a talker standing still, walking round the listener, or along a line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE

POSITION_RATE = SAMPLE_RATE / FRAME_SAMPLES  # 120 rows per second
# Closer than this, two heads overlap: the mouth sits 9 cm from the talker's tracked point, so at
# 0.2 m it stays outside a 9 cm head radius around the listener whichever way the talker faces.
MIN_DISTANCE_M = 0.2
DEFAULT_PERIOD_S = 8.0
# People walk at 1.2-1.4 m/s and seldom faster; the simulator's talkers stay below 1.4.
WALKING_SPEED_LIMIT_M_S = 1.5
FACINGS = ("listener", "travel")
# Seen from above with the listener facing up the page: clockwise is increasing azimuth.
DIRECTIONS = ("clockwise", "counterclockwise")


def frame_times(num_samples: int) -> np.ndarray:
    """(ceil(num_samples / 400),) start time in seconds of each position row."""
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive whole number, got {num_samples!r}")
    return np.arange(-(-int(num_samples) // FRAME_SAMPLES)) / POSITION_RATE


def yaw_quaternions(yaw: np.ndarray) -> np.ndarray:
    """(..., 4) tracked quaternions `qx qy qz qw` of an upright talker facing yaw (radians)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    zeros = np.zeros_like(yaw)
    return np.stack([zeros, zeros, -np.sin(yaw / 2), np.cos(yaw / 2)], axis=-1)


def _continuous_sign(quaternions: np.ndarray) -> np.ndarray:
    """Flips signs so that consecutive rows do not jump between q and -q (the same rotation)."""
    dots = np.sum(quaternions[1:] * quaternions[:-1], axis=-1)
    signs = np.concatenate([[1.0], np.cumprod(np.where(dots < 0, -1.0, 1.0))])
    return quaternions * signs[:, None]


def _finite(name: str, value, *, shape_hint: str = "") -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        rows = " (rows of equal length)" if isinstance(value, (list, tuple)) else ""
        raise ValueError(f"{name} must be numbers{shape_hint}{rows}, got {value!r}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return array


def _positive(name: str, value) -> float:
    number = float(_finite(name, value))
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _point(name: str, value) -> tuple[float, ...]:
    point = _finite(name, value, shape_hint=" (x, y) or (x, y, z)")
    if point.shape not in ((2,), (3,)):
        raise ValueError(f"{name} must be (x, y) or (x, y, z) in metres, got {value!r}")
    return (*map(float, point), 0.0)[:3]


class _Path:
    """What every description shares: rows for an audio length, checked against the listener."""

    def rows(self, num_samples: int) -> np.ndarray:
        """The tracking rows of this path for `num_samples` of 48 kHz audio.

        Args:
            num_samples: T, the audio's length in samples at 48 kHz.

        Returns:
            (ceil(T / 400), 7) float32 rows `x y z qx qy qz qw`, one per 400 samples (120 Hz).

        Raises:
            ValueError: if the path ends before the audio or comes inside the listener's head.
        """
        times = frame_times(num_samples)
        xyz, quaternions = self._trajectory(times, num_samples)
        distance = np.linalg.norm(xyz, axis=-1)
        row = int(np.argmin(distance))
        if distance[row] < MIN_DISTANCE_M:
            raise ValueError(
                f"the talker comes within {distance[row]:.3f} m of the listener at "
                f"{times[row]:.2f} s (row {row}); it must stay at least {MIN_DISTANCE_M} m "
                f"away, or the two heads would overlap")
        return np.concatenate([xyz, _continuous_sign(quaternions)], axis=-1).astype(np.float32)

    def _trajectory(self, times: np.ndarray, num_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """(K, 3) positions and (K, 4) tracked quaternions at the row times (K,)."""
        raise NotImplementedError


def _towards_listener(xyz: np.ndarray) -> np.ndarray:
    return np.unwrap(np.arctan2(-xyz[:, 1], -xyz[:, 0]))


@dataclass
class Static(_Path):
    """A talker standing still at an azimuth, elevation and distance (degrees, metres).

    `yaw_deg` None: facing the listener (yaw = azimuth + 180).
    """

    azimuth_deg: float = 0.0
    elevation_deg: float = 0.0
    distance_m: float = 1.5
    yaw_deg: float | None = None

    def __post_init__(self):
        _finite("azimuth_deg", self.azimuth_deg)
        if not -90 <= float(_finite("elevation_deg", self.elevation_deg)) <= 90:
            raise ValueError(f"elevation_deg must be within -90 .. 90, got {self.elevation_deg!r}")
        if _positive("distance_m", self.distance_m) < MIN_DISTANCE_M:
            raise ValueError(f"distance_m must be at least {MIN_DISTANCE_M} m (closer, the heads "
                             f"would overlap), got {self.distance_m!r}")
        if self.yaw_deg is not None:
            _finite("yaw_deg", self.yaw_deg)

    def _trajectory(self, times, num_samples):
        frames = len(times)
        azimuth, elevation = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        xyz = self.distance_m * np.array([np.cos(elevation) * np.cos(azimuth),
                                          np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        yaw = azimuth + np.pi if self.yaw_deg is None else np.radians(self.yaw_deg)
        return np.tile(xyz, (frames, 1)), np.tile(yaw_quaternions(yaw), (frames, 1))


@dataclass
class Circle(_Path):
    """A talker walking round the listener at `radius_m`, `height_m` above the tracked point.

    Give `period_s` (one lap) or `speed_m_s`; neither means 8 s a lap. `direction` as seen from
    above with the listener facing up the page; `facing` the listener or the direction of travel.
    """

    radius_m: float = 1.5
    period_s: float | None = None
    speed_m_s: float | None = None
    direction: str = "clockwise"
    start_azimuth_deg: float = 0.0
    height_m: float = 0.0
    facing: str = "listener"

    def __post_init__(self):
        if self.period_s is not None and self.speed_m_s is not None:
            raise ValueError(f"give period_s or speed_m_s, not both (got {self.period_s!r} and "
                             f"{self.speed_m_s!r})")
        radius = _positive("radius_m", self.radius_m)
        for name in ("period_s", "speed_m_s"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        _choice("direction", self.direction, DIRECTIONS)
        _choice("facing", self.facing, FACINGS)
        _finite("start_azimuth_deg", self.start_azimuth_deg)
        if np.hypot(radius, float(_finite("height_m", self.height_m))) < MIN_DISTANCE_M:
            raise ValueError(f"radius_m {self.radius_m!r} at height_m {self.height_m!r} is within "
                             f"{MIN_DISTANCE_M} m of the listener (the heads would overlap)")

    @property
    def lap_s(self) -> float:
        """Seconds for one lap."""
        if self.speed_m_s is not None:
            return 2 * np.pi * self.radius_m / self.speed_m_s
        return DEFAULT_PERIOD_S if self.period_s is None else self.period_s

    def _trajectory(self, times, num_samples):
        sign = 1.0 if self.direction == "clockwise" else -1.0
        azimuth = np.radians(self.start_azimuth_deg) + sign * 2 * np.pi * times / self.lap_s
        xyz = np.stack([self.radius_m * np.cos(azimuth), self.radius_m * np.sin(azimuth),
                        np.full_like(times, self.height_m)], axis=-1)
        yaw = azimuth + (np.pi if self.facing == "listener" else sign * np.pi / 2)
        return xyz, yaw_quaternions(yaw)


@dataclass
class Line(_Path):
    """A talker walking a straight line from `start` to `end` ((x, y) or (x, y, z), metres).

    `speed_m_s` None spreads the walk over the whole audio; a walk that ends before the audio does
    is an error. `facing` the direction of travel (default) or the listener.
    """

    start: tuple[float, ...] = (2.0, -3.0)
    end: tuple[float, ...] = (2.0, 3.0)
    speed_m_s: float | None = None
    facing: str = "travel"

    def __post_init__(self):
        self.start, self.end = _point("start", self.start), _point("end", self.end)
        if self.start == self.end:
            raise ValueError(f"start and end are the same point {self.start}; use Static")
        if self.speed_m_s is not None:
            _positive("speed_m_s", self.speed_m_s)
        _choice("facing", self.facing, FACINGS)
        if self.facing == "travel" and self.start[:2] == self.end[:2]:
            raise ValueError("a vertical line has no direction of travel; use facing='listener'")

    def _trajectory(self, times, num_samples):
        start, step = np.array(self.start), np.subtract(self.end, self.start)
        length = float(np.linalg.norm(step))
        walk_s = num_samples / SAMPLE_RATE if self.speed_m_s is None else length / self.speed_m_s
        if walk_s < times[-1]:
            raise ValueError(
                f"walking {length:.3g} m at {self.speed_m_s:g} m/s takes {walk_s:.3g} s, but the "
                f"audio lasts {num_samples / SAMPLE_RATE:.3g} s: lower the speed to at most "
                f"{length / times[-1]:.3g} m/s, or leave it out to spread the walk over the audio")
        xyz = start + np.outer(times / walk_s, step)
        if self.facing == "travel":
            yaw = np.full_like(times, np.arctan2(step[1], step[0]))
        else:
            yaw = _towards_listener(xyz)
        return xyz, yaw_quaternions(yaw)


