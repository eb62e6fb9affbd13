"""A rigid spherical head: path lengths around it (ITD) and its shadowing filter (ILD)."""

from __future__ import annotations

import numpy as np

from binauralgrad.dsp import LEFT_EAR, RIGHT_EAR, SPEED_OF_SOUND

# The sphere passes through the dataset's ear positions, so its geometry agrees with dsp.
HEAD_CENTRE = np.array([0.0, 0.0, LEFT_EAR[2]])
HEAD_RADIUS = float(RIGHT_EAR[1])
EAR_SIDES = (-1.0, 1.0)  # left ear on -y, right ear on +y


def _ear_axis(side: float) -> np.ndarray:
    return np.array([0.0, side, 0.0])


def incidence_angle(source: np.ndarray, side: float) -> np.ndarray:
    """Angle (rad) between an ear's outward axis and the direction from the head to a source.

    Args:
        source: (..., 3) source positions in the listener frame (metres).
        side: -1 for the left ear, +1 for the right ear.

    Returns:
        (...) angles in [0, pi]: 0 = source straight out from that ear.
    """
    direction = source - HEAD_CENTRE
    cosine = direction @ _ear_axis(side) / np.maximum(np.linalg.norm(direction, axis=-1), 1e-9)
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def path_length(source: np.ndarray, side: float) -> np.ndarray:
    """Shortest path from a source to an ear on the sphere, bending around the head.

    An ear the source can see gets the straight line; a shadowed ear gets the tangent from the
    source plus the arc along the sphere (the near-field form of Woodworth's ITD formula).

    Args:
        source: (..., 3) positions in the listener frame, outside the head.
        side: -1 for the left ear, +1 for the right ear.

    Returns:
        (...) path lengths in metres.
    """
    radius = HEAD_RADIUS
    distance = np.maximum(np.linalg.norm(source - HEAD_CENTRE, axis=-1), radius * 1.01)
    angle = incidence_angle(source, side)
    visible_limit = np.arccos(radius / distance)  # beyond this angle the ear is behind the head
    straight = np.sqrt(distance**2 + radius**2 - 2 * distance * radius * np.cos(angle))
    around = np.sqrt(distance**2 - radius**2) + radius * (angle - visible_limit)
    return np.where(angle <= visible_limit, straight, around)


def shadow_response(angle: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """The head-shadow filter of a rigid sphere (Brown & Duda's one-pole, one-zero model).

    H(w) = (1 + j a(theta) w / 2w0) / (1 + j w / 2w0), w0 = c / radius, with
    a(theta) = 1.05 + 0.95 cos(theta / 150 deg * 180 deg): +6 dB at high frequencies for a
    source on the ear's side, -20 dB at 150 deg, a little less behind (the sphere's bright
    spot); no effect at low frequencies.

    Args:
        angle: (F,) incidence angles (see `incidence_angle`).
        frequencies: (N,) in Hz.

    Returns:
        (F, N) complex responses.
    """
    alpha = 1.05 + 0.95 * np.cos(angle / np.deg2rad(150) * np.pi)
    scaled = 1j * (2 * np.pi * frequencies) / (2 * SPEED_OF_SOUND / HEAD_RADIUS)
    return (1 + alpha[:, None] * scaled[None, :]) / (1 + scaled[None, :])


def shadow_gain(angle: np.ndarray, *, frequency: float = 2000.0) -> np.ndarray:
    """Broadband stand-in for `shadow_response`: its magnitude at one mid frequency."""
    return np.abs(shadow_response(np.atleast_1d(angle).ravel(), np.array([frequency])))[
        :, 0
    ].reshape(np.shape(angle))
