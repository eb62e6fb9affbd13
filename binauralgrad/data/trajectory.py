"""Smooth random talker trajectories around a fixed listener, as the dataset's 120 Hz rows."""

from __future__ import annotations

import numpy as np

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.data.blocks import smooth_noise

POSITION_RATE = SAMPLE_RATE / FRAME_SAMPLES  # 120 Hz
MIN_DISTANCE = 0.4  # metres from the listener, as the talker range
MAX_DISTANCE = 3.0


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

    Distance wanders smoothly within 0.4 .. 3 m, azimuth drifts (every side of the listener
    appears over a data set), and the talker mostly faces the listener with head turns of tens
    of degrees, some nodding and a little roll.

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

    centre = rng.uniform(-1.0, 1.0)  # some sequences stay close, others far
    closeness = 0.5 + 0.5 * np.tanh(centre + 0.9 * wander(0.15))
    distance = MIN_DISTANCE + (MAX_DISTANCE - MIN_DISTANCE) * closeness
    azimuth = (
        rng.uniform(-np.pi, np.pi)
        + 1.2 * wander(0.08)
        + rng.normal(0, 0.15) * np.arange(num_frames) / POSITION_RATE
    )
    height = rng.uniform(0.0, 0.35) + 0.04 * wander(0.3)
    xyz = np.stack([distance * np.cos(azimuth), distance * np.sin(azimuth), height], axis=-1)
    if bounds is not None:
        xyz = np.clip(xyz, bounds[0], bounds[1])  # the talker stops at the wall
    yaw = np.arctan2(-xyz[:, 1], -xyz[:, 0]) + 0.6 * wander(0.25)  # towards the listener, turning
    pitch = 0.12 * wander(0.3)
    roll = 0.06 * wander(0.2)
    positions = np.concatenate([xyz, attitude_quaternion(yaw, pitch, roll)], axis=-1)
    return positions, facing_direction(yaw, pitch)
