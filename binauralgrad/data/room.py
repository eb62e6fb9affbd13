"""A shoebox room: image sources up to second order and a statistical late reverberation tail."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from binauralgrad.constants import SAMPLE_RATE, WALL_REFLECTION
from binauralgrad.dsp import SPEED_OF_SOUND

IMAGE_ORDER = 2
EAR_SPACING = 0.16  # metres; sets the diffuse field's interaural coherence
WALL_CLEARANCE = 1.2  # the listener sits at least this far from every wall (metres)


@dataclass(frozen=True)
class Room:
    """A rectangular room holding the listener, axis-aligned with the listener's frame.

    Attributes:
        size: (3,) lengths along x, y, z in metres.
        listener: (3,) the listener's origin in room coordinates (a corner at 0).
        reflection: (3, 2) pressure reflection coefficients of the walls at 0 and at size,
            per axis.
        tail: (2, L) late-reverberation impulse responses (left, right ear), emission-timed.
    """

    size: np.ndarray
    listener: np.ndarray
    reflection: np.ndarray
    tail: np.ndarray

    def bounds(self, margin: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) corners, in the listener's frame, of the room less `margin` per wall."""
        return margin - self.listener, self.size - margin - self.listener


def reverberation_time(size: np.ndarray, reflection: np.ndarray) -> tuple[float, float]:
    """Sabine's RT60 (s) and the room constant R = A / (1 - mean absorption) (m^2)."""
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]])
    absorption = 1.0 - reflection**2  # energy absorbed per bounce
    equivalent_area = float(np.sum(areas[:, None] * absorption))
    mean_absorption = equivalent_area / float(2 * areas.sum())
    rt60 = 0.161 * float(np.prod(size)) / equivalent_area
    return rt60, equivalent_area / (1.0 - mean_absorption)


def late_tail(
    rng: np.random.Generator,
    size: np.ndarray,
    reflection: np.ndarray,
    *,
    reference_distance: float,
) -> np.ndarray:
    """Exponentially decaying noise for the reflections after second order, per ear.

    Its energy is the diffuse field's (Hopkins-Stryker: 16 pi r_ref^2 / R relative to a path
    of unit gain) that remains after the image sources' time, so the direct-to-reverberant
    ratio falls with distance as in a real room. The ears' tails are mixed to the coherence of
    a diffuse field, sinc(2 f d / c), and high frequencies are damped.

    Returns:
        (2, L) impulse responses, L = 1.2 * RT60 seconds.
    """
    rt60, room_constant = reverberation_time(size, reflection)
    surface = 2 * (size[0] * size[1] + size[0] * size[2] + size[1] * size[2])
    mean_free_path = 4 * float(np.prod(size)) / float(surface)
    onset = (IMAGE_ORDER + 1) * mean_free_path / SPEED_OF_SOUND
    length = int((onset + 1.2 * rt60) * SAMPLE_RATE)
    spectra = np.fft.rfft(rng.standard_normal((3, length)), axis=1)
    frequencies = np.fft.rfftfreq(length, d=1.0 / SAMPLE_RATE)
    coherence = np.abs(np.sinc(2 * frequencies * EAR_SPACING / SPEED_OF_SOUND))
    common, own = np.sqrt(coherence) * spectra[0], np.sqrt(1 - coherence)
    damping = np.exp(-((frequencies / 9000.0) ** 2))
    ears = np.fft.irfft((common + own * spectra[1:]) * damping, n=length, axis=1)
    time = np.arange(length) / SAMPLE_RATE
    envelope = np.exp(-6.9 * time / rt60) * np.clip((time - onset) / 0.005, 0.0, 1.0)
    ears *= envelope
    energy = 16 * np.pi * reference_distance**2 / room_constant * np.exp(-13.8 * onset / rt60)
    ears *= np.sqrt(energy / np.sum(ears**2, axis=1, keepdims=True))
    return ears.astype(np.float32)


def random_room(rng: np.random.Generator, *, reference_distance: float,
                wall_reflection: tuple[float, float] = WALL_REFLECTION) -> Room:
    """A furnished-office-like room with the listener away from the walls.

    Args:
        wall_reflection: the range each wall's pressure reflection coefficient is drawn from
            (the default gives RT60 ~0.2-0.6 s; `DRY_WALL_REFLECTION` a treated room's).
    """
    size = np.array([rng.uniform(6.0, 10.0), rng.uniform(5.5, 9.0), rng.uniform(2.7, 3.5)])
    listener = np.array(
        [
            rng.uniform(WALL_CLEARANCE, size[0] - WALL_CLEARANCE),
            rng.uniform(WALL_CLEARANCE, size[1] - WALL_CLEARANCE),
            rng.uniform(1.3, 1.5),  # ear height of a seated listener, plus the 0.22 offset
        ]
    )
    reflection = rng.uniform(*wall_reflection, size=(3, 2))
    tail = late_tail(rng, size, reflection, reference_distance=reference_distance)
    return Room(size, listener, reflection, tail)


def image_sources(
    room: Room, source: np.ndarray, facing: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Mirror images of a source in the walls, up to second order (the direct path first).

    Args:
        room: the room.
        source: (K, 3) source positions in the listener frame.
        facing: (K, 3) the source's facing directions (mirrored with it, for directivity).

    Returns:
        (position (K, 3), facing (K, 3), amplitude) per image, listener frame; the amplitude
        is the product of the reflection coefficients of the walls it bounced off.
    """
    in_room = source + room.listener
    images = []
    every = itertools.product(range(-IMAGE_ORDER, IMAGE_ORDER + 1), repeat=3)
    for orders in sorted(every, key=lambda orders: sum(abs(order) for order in orders)):
        if sum(abs(order) for order in orders) > IMAGE_ORDER:
            continue
        position, direction, amplitude = in_room.copy(), facing.copy(), 1.0
        for axis, order in enumerate(orders):
            odd = order % 2 != 0
            if odd:  # an odd number of bounces mirrors this coordinate
                position[:, axis] = order * room.size[axis] + room.size[axis] - in_room[:, axis]
                direction[:, axis] = -direction[:, axis]
            else:
                position[:, axis] = order * room.size[axis] + in_room[:, axis]
            far_hits = (abs(order) + (order > 0)) // 2
            amplitude *= room.reflection[axis, 1] ** far_hits
            amplitude *= room.reflection[axis, 0] ** (abs(order) - far_hits)
        images.append((position - room.listener, direction, float(amplitude)))
    return images
