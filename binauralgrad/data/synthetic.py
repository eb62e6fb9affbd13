"""A physically motivated binaural simulator that writes the Binaural Speech dataset layout."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from binauralgrad import dsp
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.data import head
from binauralgrad.data.blocks import delay_line, frame_count, frame_filter, ramp_between_hops
from binauralgrad.data.room import Room, image_sources, random_room
from binauralgrad.data.sequence import BINAURAL, MONO, RX_POSITIONS, TX_POSITIONS
from binauralgrad.data.speech import speech_files, speech_from_files, speech_like_signal
from binauralgrad.data.trajectory import random_trajectory
from binauralgrad.io.audio import write_wav
from binauralgrad.io.positions import write_positions

REFERENCE_DISTANCE = 0.5  # a path this long has gain 1; the ears then peak around 0.1-0.5
SHADOW_WINDOW = 512  # head-shadow filter frames (10.7 ms)
MIN_SEQUENCE_S = 3.0
SENSOR_NOISE = 3e-5  # microphone self-noise, standard deviation
SETTINGS_FILE = "synthetic.json"
PEAK_LIMIT = 0.9  # binaural audio is scaled down (rarely) to stay inside [-1, 1]


def _directivity(facing: np.ndarray, source: np.ndarray) -> np.ndarray:
    """A talker radiates more forwards: 1 on axis, 0.6 sideways, 0.2 behind (broadband)."""
    towards = head.HEAD_CENTRE - source
    cosine = np.sum(facing * towards, axis=-1) / np.linalg.norm(towards, axis=-1)
    return 0.6 + 0.4 * cosine


def _ear_paths(source: np.ndarray, facing: np.ndarray, side: float, amplitude: float):
    """Per-frame delay (samples) and gain of one propagation path to one ear."""
    length = head.path_length(source, side)
    gain = amplitude * _directivity(facing, source) * REFERENCE_DISTANCE / length
    return length / dsp.SPEED_OF_SOUND * SAMPLE_RATE, gain


def _head_shadow(signal: np.ndarray, source: np.ndarray, side: float) -> np.ndarray:
    """Filters a path's signal with the spherical head's shadow for its changing direction."""
    frames = frame_count(len(signal), window_length=SHADOW_WINDOW)
    angle = head.incidence_angle(source, side)  # per 120 Hz row
    centres = np.arange(frames) * (SHADOW_WINDOW // 2)
    row_times = np.arange(len(angle)) * FRAME_SAMPLES + FRAME_SAMPLES / 2
    frequencies = np.fft.rfftfreq(SHADOW_WINDOW, d=1.0 / SAMPLE_RATE)
    response = head.shadow_response(np.interp(centres, row_times, angle), frequencies)
    return frame_filter(signal, response, window_length=SHADOW_WINDOW)


def _talker_pose(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mouth positions and facing directions (K, 3) from tracking rows, by dsp's geometry."""
    rows = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float64).T[None])
    mouth = dsp.mouth_position(rows)[0].T.numpy()
    quaternions = dsp.normalized_quaternions(rows[0, 3:].T)
    forward = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    return mouth, dsp.rotate_inverse(forward, quaternions).numpy()


def render_binaural(source: np.ndarray, positions: np.ndarray, *, room: Room | None = None):
    """What the listener's ears hear of a talker: the simulator's forward model.

    Every path (the direct sound, and with a room its mirror images up to second order) is a
    time-varying delay line with the path's length around a rigid spherical head (ITD), 1/r
    attenuation, the talker's directivity and the walls' reflection coefficients. The direct
    sound is filtered by the head's frequency-dependent shadow (ILD), reflections by its
    mid-band gain; a room adds its diffuse late tail.

    Args:
        source: (T,) the talker's dry speech at 48 kHz, T = 400 * K.
        positions: (K, 7) tracking rows `x y z qx qy qz qw` (listener at the origin).
        room: the room, or None for free field (direct sound only).

    Returns:
        (2, T) float32: left ear, right ear.
    """
    num_samples = len(source)
    if num_samples != FRAME_SAMPLES * len(positions):
        raise ValueError(f"source of {num_samples} samples needs "
                         f"{num_samples / FRAME_SAMPLES:g} rows")
    mouth, facing = _talker_pose(positions)
    paths = image_sources(room, mouth, facing) if room is not None else [(mouth, facing, 1.0)]
    ears = np.zeros((2, num_samples), dtype=np.float32)
    for ear, side in enumerate(head.EAR_SIDES):
        for index, (position, direction, amplitude) in enumerate(paths):
            delay, gain = _ear_paths(position, direction, side, amplitude)
            if index:  # reflections: the shadow's broadband stand-in
                gain = gain * head.shadow_gain(head.incidence_angle(position, side))
            delay, gain = ramp_between_hops(np.stack([delay, gain]), num_samples, hop=FRAME_SAMPLES)
            path = delay_line(source, delay, gain, max_delay=float(delay.max()))
            ears[ear] += _head_shadow(path, position, side) if index == 0 else path
        if room is not None:
            ears[ear] += _convolve(source, room.tail[ear])
    return ears


def _convolve(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    size = 1 << int(math.ceil(math.log2(len(signal) + len(response))))
    spectrum = np.fft.rfft(signal, n=size) * np.fft.rfft(response, n=size)
    return np.fft.irfft(spectrum, n=size)[: len(signal)].astype(np.float32)


def _sequence_plan(train_minutes: float, test_minutes: float, sequences: int) -> list[tuple]:
    """(split, folder name, frames) for every sequence, each at least 3 s long."""
    plan = []
    splits = [
        ("trainset", train_minutes, sequences, False),
        ("testset", test_minutes, sequences, True),
    ]
    for split, minutes, count, validation in splits:
        names = [f"subject{index + 1}" for index in range(count)]
        names += ["validation_sequence"] if validation else []
        seconds = max(MIN_SEQUENCE_S, minutes * 60.0 / len(names))
        frames = int(math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES))
        plan += [(split, name, frames) for name in names]
    return plan


def _check_arguments(train_minutes: float, test_minutes: float, sequences: int, seed: int) -> None:
    for name, minutes in (("train_minutes", train_minutes), ("test_minutes", test_minutes)):
        if not isinstance(minutes, (int, float)) or not math.isfinite(minutes) or minutes <= 0:
            raise ValueError(f"{name} must be a positive number of minutes, got {minutes!r}")
    if isinstance(sequences, bool) or not isinstance(sequences, int) or sequences < 1:
        raise ValueError(f"sequences must be a positive integer, got {sequences!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _synthesize_sequence(rng: np.random.Generator, frames: int, speech: list[Path] | None):
    """mono (1, T), binaural (2, T), tx and rx positions (K, 7) of one random sequence."""
    room = random_room(rng, reference_distance=REFERENCE_DISTANCE)  # first: see dataset_room
    positions, _ = random_trajectory(rng, frames, bounds=room.bounds())
    positions = np.round(positions, 6)  # render exactly what the text file will hold
    num_samples = frames * FRAME_SAMPLES
    if speech is None:
        source = speech_like_signal(rng, num_samples)
    else:
        source = speech_from_files(rng, speech, num_samples)
    binaural = render_binaural(source, positions, room=room)
    binaural += SENSOR_NOISE * rng.standard_normal(binaural.shape).astype(np.float32)
    peak = float(np.abs(binaural).max())
    if peak > PEAK_LIMIT:
        binaural *= PEAK_LIMIT / peak
    listener = np.tile([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], (frames, 1))
    # The mono close-talk microphone has a noise floor too: exact digital silence in pauses is
    # unlike any recording and leaves spectral bins that phase-based measures cannot read.
    mono = source + SENSOR_NOISE * rng.standard_normal(source.shape).astype(np.float32)
    return mono[None], binaural, positions, listener


def simulate_sequence(seconds: float, *, seed: int = 0,
                      speech_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """One random scene (room, trajectory, talker), as `make_synthetic_dataset` draws them.

    Args:
        seconds: duration, rounded up to whole 120 Hz position frames.
        seed: the random seed.
        speech_dir: a folder of speech recordings to use instead of the speech-like model.

    Returns:
        `mono` (1, T), `binaural` (2, T), `positions` (K, 7) talker rows, `rx_positions` (K, 7).
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive duration, got {seconds!r}")
    frames = int(math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES))
    speech = speech_files(speech_dir) if speech_dir is not None else None
    mono, binaural, tx, rx = _synthesize_sequence(np.random.default_rng(seed), frames, speech)
    return {"mono": mono, "binaural": binaural, "positions": tx, "rx_positions": rx}


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    train_minutes: float = 4.0,
    test_minutes: float = 1.0,
    sequences: int = 8,
    seed: int = 0,
    speech_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Writes a synthetic data set in the Binaural Speech layout.

    `trainset/subject1..N` and `testset/subject1..N` + `testset/validation_sequence`, each with
    mono.wav, binaural.wav (float32, 48 kHz), tx_positions.txt and rx_positions.txt. Every
    sequence has its own room, trajectory and talker (see `render_binaural`); the result is a
    function of the arguments alone (each sequence draws from its own child of `seed`).

    Args:
        out_dir: where to write (created if needed).
        train_minutes, test_minutes: total audio per split, spread evenly over its sequences
            (each at least 3 s).
        sequences: N, subjects per split.
        seed: the random seed.
        speech_dir: a folder of speech recordings to use instead of the speech-like model.
        overwrite: replace existing files. Without it, a complete set made with the same
            settings is kept as it is (a rerun does nothing), and any other existing file is a
            FileExistsError, raised before any work.
        progress: show a progress bar.

    Returns:
        The sequence folders written.
    """
    _check_arguments(train_minutes, test_minutes, sequences, seed)
    out_dir = Path(out_dir)
    settings = synthetic_settings(train_minutes, test_minutes, sequences, seed, speech_dir)
    plan = _sequence_plan(train_minutes, test_minutes, sequences)
    if not overwrite and is_made(out_dir, settings):
        # The set is a function of its settings: a rerun over a complete set has nothing to do.
        return [out_dir / split / name for split, name, _ in plan]
    speech = speech_files(speech_dir) if speech_dir is not None else None
    existing = [path for path in _files(out_dir, plan) if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} exists from other settings; pass overwrite "
                              "(--overwrite) to replace it")
    folders = []
    children = _sequence_seeds(seed, plan)
    for (split, name, frames), child in zip(
        tqdm(plan, desc="sequences", disable=not progress), children, strict=True
    ):
        mono, binaural, tx, rx = _synthesize_sequence(np.random.default_rng(child), frames, speech)
        folder = out_dir / split / name
        write_wav(folder / MONO, mono, overwrite=overwrite)
        write_wav(folder / BINAURAL, binaural, overwrite=overwrite)
        write_positions(folder / TX_POSITIONS, tx, overwrite=overwrite)
        write_positions(folder / RX_POSITIONS, rx, overwrite=overwrite)
        folders.append(folder)
    (out_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    return folders


def dataset_room(root: str | os.PathLike, split: str, name: str) -> Room:
    """The room that `make_synthetic_dataset` drew for one sequence of the set at `root`.

    The room is not in the data set's files (a model never sees it); this gives it back for
    analysis, e.g. to tell how much of a reference no model could know.

    Args:
        root: a folder written by `make_synthetic_dataset` (with its synthetic.json).
        split, name: the sequence, e.g. "testset", "subject1".

    Returns:
        The Room, as drawn (the first draw of the sequence's random source).
    """
    settings = json.loads((Path(root) / SETTINGS_FILE).read_text())
    plan = _settings_plan(settings)
    index = next((i for i, (s, n, _) in enumerate(plan) if (s, n) == (split, name)), None)
    if index is None:
        raise ValueError(f"{root} has no sequence {split}/{name}")
    child = _sequence_seeds(settings["seed"], plan)[index]
    return random_room(np.random.default_rng(child), reference_distance=REFERENCE_DISTANCE)


def is_made(out_dir: str | os.PathLike, settings: dict) -> bool:
    """Whether `out_dir` holds a complete data set made with these settings."""
    out_dir = Path(out_dir)
    try:
        saved = json.loads((out_dir / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return False
    if saved != settings:
        return False
    return all(path.exists() for path in _files(out_dir, _settings_plan(settings)))


def synthetic_settings(train_minutes, test_minutes, sequences, seed, speech_dir) -> dict:
    """What a data set is a function of, as synthetic.json records it."""
    return {"train_minutes": train_minutes, "test_minutes": test_minutes,
            "sequences": sequences, "seed": seed,
            "speech_dir": None if speech_dir is None else str(speech_dir)}


def _settings_plan(settings: dict) -> list[tuple]:
    return _sequence_plan(settings["train_minutes"], settings["test_minutes"],
                          settings["sequences"])


def _sequence_seeds(seed: int, plan: list[tuple]) -> list[np.random.SeedSequence]:
    """Each sequence's own random source: the one place that fixes which draws it sees."""
    return np.random.SeedSequence(seed).spawn(len(plan))


def _files(out_dir: Path, plan: list[tuple]) -> list[Path]:
    names = (MONO, BINAURAL, TX_POSITIONS, RX_POSITIONS)
    return [out_dir / split / name / file for split, name, _ in plan for file in names]
