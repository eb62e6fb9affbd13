"""The simulator's forward model: a talker's speech at the ears, through a head and a room.

Every propagation path (the direct sound, and with a room its mirror images up to second order)
is a time-varying delay line with 1 / r attenuation and the talker's directivity, heard through
one of two heads:
- the rigid sphere (`head`): path lengths bent around it (ITD) and its shadowing filter (ILD);
- a measured head (`hrtf.MeasuredHead`, from a SOFA file): each path arrives at the head centre's
  r / c plus the ear's measured lead or lag for its direction, through the direction's
  free-field-equalised response, blended between measured directions as the path moves.
A room adds its diffuse late tail.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from binauralgrad import dsp
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.data import head as sphere
from binauralgrad.data.blocks import (
    delay_line,
    frame_count,
    frame_filter,
    ramp_between_hops,
    varying_fir,
)
from binauralgrad.data.hrtf import LEAD_TAPS, MeasuredHead
from binauralgrad.data.room import Room, image_sources

REFERENCE_DISTANCE = 0.5  # a path this long has gain 1; the ears then peak around 0.1-0.5
SHADOW_WINDOW = 512  # head-shadow filter frames (10.7 ms)
NEAREST_PATH = 0.15  # metres from the head centre: closer paths are rendered as at this distance


def directivity(facing: np.ndarray, source: np.ndarray) -> np.ndarray:
    """A talker radiates more forwards: 1 on axis, 0.6 sideways, 0.2 behind (broadband)."""
    towards = sphere.HEAD_CENTRE - source
    cosine = np.sum(facing * towards, axis=-1) / np.linalg.norm(towards, axis=-1)
    return 0.6 + 0.4 * cosine


def _sphere_path(signal: np.ndarray, source: np.ndarray, facing: np.ndarray, amplitude: float,
                 *, direct: bool) -> np.ndarray:
    """(2, T) one path heard through the rigid sphere."""
    ears = []
    for side in sphere.EAR_SIDES:
        length = sphere.path_length(source, side)
        gain = amplitude * directivity(facing, source) * REFERENCE_DISTANCE / length
        if not direct:  # reflections: the shadow's broadband stand-in
            gain = gain * sphere.shadow_gain(sphere.incidence_angle(source, side))
        ears.append(_delayed(signal, length / dsp.SPEED_OF_SOUND * SAMPLE_RATE, gain))
        if direct:
            ears[-1] = _head_shadow(ears[-1], source, side)
    return np.stack(ears)


def _measured_path(signal: np.ndarray, source: np.ndarray, facing: np.ndarray, amplitude: float,
                   measured: MeasuredHead) -> np.ndarray:
    """(2, T) one path heard through a measured head."""
    offset = source - sphere.HEAD_CENTRE
    distance = np.maximum(np.linalg.norm(offset, axis=-1), NEAREST_PATH)
    delays, responses = measured.at(offset)
    gain = amplitude * directivity(facing, source) * REFERENCE_DISTANCE / distance
    centre = distance / dsp.SPEED_OF_SOUND * SAMPLE_RATE - LEAD_TAPS
    return np.stack([varying_fir(_delayed(signal, centre + delays[:, ear], gain),
                                 responses[:, ear], hop=FRAME_SAMPLES) for ear in range(2)])


def _delayed(signal: np.ndarray, delay: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """The signal through per-row delays (samples) and gains, interpolated between rows."""
    delay, gain = ramp_between_hops(np.stack([delay, gain]), len(signal), hop=FRAME_SAMPLES)
    return delay_line(signal, np.maximum(delay, 0.0), gain, max_delay=float(delay.max()))


def _head_shadow(signal: np.ndarray, source: np.ndarray, side: float) -> np.ndarray:
    """Filters a path's signal with the spherical head's shadow for its changing direction."""
    frames = frame_count(len(signal), window_length=SHADOW_WINDOW)
    angle = sphere.incidence_angle(source, side)  # per 120 Hz row
    centres = np.arange(frames) * (SHADOW_WINDOW // 2)
    row_times = np.arange(len(angle)) * FRAME_SAMPLES + FRAME_SAMPLES / 2
    frequencies = np.fft.rfftfreq(SHADOW_WINDOW, d=1.0 / SAMPLE_RATE)
    response = sphere.shadow_response(np.interp(centres, row_times, angle), frequencies)
    return frame_filter(signal, response, window_length=SHADOW_WINDOW)


def talker_pose(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mouth positions and facing directions (K, 3) from tracking rows, by dsp's geometry."""
    rows = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float64).T[None])
    facing = dsp.talker_vector(rows, (1.0, 0.0, 0.0))
    return dsp.mouth_position(rows)[0].T.numpy(), facing[0].T.numpy()


def render_binaural(source: np.ndarray, positions: np.ndarray, *, room: Room | None = None,
                    measured: MeasuredHead | None = None) -> np.ndarray:
    """What the listener's ears hear of a talker (see the module docstring).

    Args:
        source: (T,) the talker's dry speech at 48 kHz, T = 400 * K.
        positions: (K, 7) tracking rows `x y z qx qy qz qw` (listener at the origin).
        room: the room, or None for free field (direct sound only).
        measured: a measured head, or None for the rigid sphere.

    Returns:
        (2, T) float32: left ear, right ear.
    """
    num_samples = len(source)
    if num_samples != FRAME_SAMPLES * len(positions):
        raise ValueError(f"source of {num_samples} samples needs "
                         f"{num_samples / FRAME_SAMPLES:g} rows")
    mouth, facing = talker_pose(positions)
    paths = image_sources(room, mouth, facing) if room is not None else [(mouth, facing, 1.0)]
    ears = np.zeros((2, num_samples), dtype=np.float32)
    for index, (position, direction, amplitude) in enumerate(paths):
        if measured is None:
            ears += _sphere_path(source, position, direction, amplitude, direct=index == 0)
        else:
            ears += _measured_path(source, position, direction, amplitude, measured)
    if room is not None:
        for ear in range(2):
            ears[ear] += _convolve(source, room.tail[ear])
    return ears


def _convolve(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    size = 1 << int(math.ceil(math.log2(len(signal) + len(response))))
    spectrum = np.fft.rfft(signal, n=size) * np.fft.rfft(response, n=size)
    return np.fft.irfft(spectrum, n=size)[: len(signal)].astype(np.float32)
