"""Smooth random talker trajectories around a fixed listener, as the dataset's 120 Hz rows."""

from __future__ import annotations

import numpy as np

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.data.blocks import smooth_noise

POSITION_RATE = SAMPLE_RATE / FRAME_SAMPLES  # 120 Hz
MIN_DISTANCE = 0.4  # metres from the listener, as the talker range
MAX_DISTANCE = 3.0
WALKING_SPEED = 1.4  # m/s: a brisk walk; the talker never moves faster
MAX_TURN_RATE = 2.5  # rad/s: a walker's tightest turn (about 0.6 m radius at full speed)
STEER_RANGE = 0.6  # metres: how far from a wall or distance limit the walker starts turning


def attitude_quaternion(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """The tracking quaternion of a talker whose head is turned by yaw, pitch, roll (radians).

    The talker's attitude A = Rz(yaw) Ry(pitch) Rx(roll) takes the talker's frame (x out of the
    face) to the listener's. The dataset's geometry rotates the mouth offset by the inverse of
    the tracked rotation (dsp.mouth_position), so the tracked quaternion is A's conjugate.

    Returns:
        (..., 4) unit quaternions, scalar-last (`qx qy qz qw`).
    """
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    w = cr * cp * cy + sr * sp * sy
    x = sr * cp * cy - cr * sp * sy
    y = cr * sp * cy + sr * cp * sy
    z = cr * cp * sy - sr * sp * cy
    return np.stack([-x, -y, -z, w], axis=-1)


def facing_direction(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(..., 3) unit vector the talker's face points along (A applied to x; roll has no effect)."""
    return np.stack([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), -np.sin(pitch)], -1)


def random_trajectory(
    rng: np.random.Generator,
    num_frames: int,
    *,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A talker walking and turning around a listener at the origin (x forward, y right, z up).

    The talker walks as people do (`walk`): at most WALKING_SPEED, often standing, turning
    smoothly away from walls and from the listener's near and far limits (0.4 .. 3 m), at any
    sequence length. Their head mostly faces the listener, with turns of tens of degrees, some
    nodding and a little roll.

    Args:
        rng: the random source.
        num_frames: K, rows at 120 Hz.
        bounds: optional (low, high) corners of a box (listener frame) the talker stays inside,
            e.g. a room's walls less a margin.

    Returns:
        positions (K, 7) float64 rows `x y z qx qy qz qw`, and the facing direction (K, 3).
    """

    def wander(cutoff: float) -> np.ndarray:
        return smooth_noise(rng, num_frames, cutoff=cutoff, rate=POSITION_RATE)

    start = rng.uniform(-np.pi, np.pi)
    start_distance = MIN_DISTANCE + 0.2 + (MAX_DISTANCE - MIN_DISTANCE - 0.4) * rng.uniform() ** 1.5
    plane = walk(np.array([np.cos(start), np.sin(start)]) * start_distance,
                 heading=rng.uniform(-np.pi, np.pi), speed=_walking_speed(rng, wander),
                 turning=0.8 * wander(0.15), bounds=bounds)
    height = rng.uniform(0.0, 0.35) + 0.04 * wander(0.3)
    xyz = np.concatenate([plane, height[:, None]], axis=-1)
    if bounds is not None:
        xyz = np.clip(xyz, bounds[0], bounds[1])  # a safety net: the walk already steers clear
    yaw = np.arctan2(-xyz[:, 1], -xyz[:, 0]) + 0.6 * wander(0.25)  # towards the listener, turning
    pitch = 0.12 * wander(0.3)
    roll = 0.06 * wander(0.2)
    positions = np.concatenate([xyz, attitude_quaternion(yaw, pitch, roll)], axis=-1)
    return positions, facing_direction(yaw, pitch)


def _walking_speed(rng: np.random.Generator, wander) -> np.ndarray:
    """Per-row walking speed (m/s): pauses, strolls and brisk stretches, never above the limit."""
    pace = rng.uniform(0.15, 0.8)  # some talkers mostly stand, others keep walking
    return WALKING_SPEED * np.clip(pace + 0.35 * wander(0.1), 0.0, 1.0) ** 1.5


def walk(start: np.ndarray, *, heading: float, speed: np.ndarray, turning: np.ndarray,
         bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Integrates a walk in the horizontal plane at 120 Hz, steering smoothly away from limits.

    The walker turns at their own rate (`turning`, rad/s) plus a steering rate towards safe
    ground that grows as they near a wall (within STEER_RANGE of `bounds`) or the listener's
    near or far limit; the turn rate is capped at MAX_TURN_RATE, and the walker slows down while
    steering hard, so corners are rounded rather than clipped.

    Args:
        start: (2,) x, y in metres. heading: the initial walking direction (rad).
        speed: (K,) m/s. turning: (K,) the walker's own turn rate in rad/s.
        bounds: optional (low, high) corners (their x and y are used).

    Returns:
        (K, 2) x, y per row.
    """
    step = 1.0 / POSITION_RATE
    plane = np.empty((len(speed), 2))
    position = np.array(start, dtype=np.float64)
    for row in range(len(speed)):
        plane[row] = position
        away, urgency = _steering(position, bounds)
        if urgency > 0:
            error = np.angle(np.exp(1j * (np.arctan2(away[1], away[0]) - heading)))
            turn = turning[row] * (1 - urgency) + 4.0 * urgency * error
        else:
            turn = turning[row]
        heading += float(np.clip(turn, -MAX_TURN_RATE, MAX_TURN_RATE)) * step
        pace = speed[row] * (1.0 - 0.7 * urgency)
        position = position + pace * step * np.array([np.cos(heading), np.sin(heading)])
    return plane


def _steering(position: np.ndarray, bounds) -> tuple[np.ndarray, float]:
    """Where safe ground lies from `position` (a direction) and how urgently (0 .. 1)."""
    push, urgency = np.zeros(2), 0.0
    distance = float(np.linalg.norm(position))
    radial = position / max(distance, 1e-9)
    for closeness, direction in (
        ((MIN_DISTANCE + STEER_RANGE - distance) / STEER_RANGE, radial),
        ((distance - MAX_DISTANCE + STEER_RANGE) / STEER_RANGE, -radial),
    ):
        if closeness > 0:
            push, urgency = push + closeness * direction, max(urgency, closeness)
    if bounds is not None:
        for axis in range(2):
            for wall, sign in ((bounds[0][axis], 1.0), (bounds[1][axis], -1.0)):
                closeness = (STEER_RANGE - sign * (position[axis] - wall)) / STEER_RANGE
                if closeness > 0:
                    push[axis] += sign * closeness
                    urgency = max(urgency, closeness)
    return push, min(urgency, 1.0)
