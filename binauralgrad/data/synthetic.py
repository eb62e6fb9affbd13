"""A physically motivated binaural simulator that writes the Binaural Speech dataset layout."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.data.hrtf import MeasuredHead
from binauralgrad.data.render import REFERENCE_DISTANCE, render_binaural
from binauralgrad.data.room import WALL_REFLECTION, Room, random_room
from binauralgrad.data.sequence import BINAURAL, MONO, RX_POSITIONS, TX_POSITIONS
from binauralgrad.data.speech import speech_files, speech_from_files, speech_like_signal
from binauralgrad.data.trajectory import random_trajectory
from binauralgrad.data.world import World
from binauralgrad.io.audio import write_wav
from binauralgrad.io.positions import write_positions

MIN_SEQUENCE_S = 3.0
SENSOR_NOISE = 3e-5  # microphone self-noise, standard deviation
SETTINGS_FILE = "synthetic.json"
PEAK_LIMIT = 0.9  # binaural audio is scaled down (rarely) to stay inside [-1, 1]


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


def _synthesize_sequence(rng: np.random.Generator, frames: int, speech: list[Path] | None, *,
                         measured: MeasuredHead | None = None, anechoic: bool = False,
                         wall_reflection: tuple[float, float] = WALL_REFLECTION):
    """mono (1, T), binaural (2, T), tx and rx positions (K, 7) of one random sequence.

    The room is drawn even for an anechoic scene: its walls bound the walk, and the draws that
    follow stay those of the same scene with a room.
    """
    room = random_room(rng, reference_distance=REFERENCE_DISTANCE,  # first: see dataset_room
                       wall_reflection=wall_reflection)
    positions, _ = random_trajectory(rng, frames, bounds=room.bounds())
    positions = np.round(positions, 6)  # render exactly what the text file will hold
    num_samples = frames * FRAME_SAMPLES
    if speech is None:
        source = speech_like_signal(rng, num_samples)
    else:
        source = speech_from_files(rng, speech, num_samples)
    binaural = render_binaural(source, positions, room=None if anechoic else room,
                               measured=measured)
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
                      speech_dir: str | os.PathLike | None = None,
                      world: World | None = None) -> dict[str, np.ndarray]:
    """One random scene (room, trajectory, talker, head), as `make_synthetic_dataset` draws them.

    Args:
        seconds: duration, rounded up to whole 120 Hz position frames.
        seed: the random seed.
        speech_dir: a folder of speech recordings to use instead of the speech-like model.
        world: the heads and free-field share to draw from (default: the sphere, in a room).

    Returns:
        `mono` (1, T), `binaural` (2, T), `positions` (K, 7) talker rows, `rx_positions` (K, 7).
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive duration, got {seconds!r}")
    frames = int(math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES))
    speech = speech_files(speech_dir) if speech_dir is not None else None
    world = world or World()
    head, anechoic = world.draw(np.random.SeedSequence(seed))
    mono, binaural, tx, rx = _synthesize_sequence(
        np.random.default_rng(seed), frames, speech, measured=world.load()[head],
        anechoic=anechoic, wall_reflection=world.wall_reflection)
    return {"mono": mono, "binaural": binaural, "positions": tx, "rx_positions": rx}


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    train_minutes: float = 4.0,
    test_minutes: float = 1.0,
    sequences: int = 8,
    seed: int = 0,
    speech_dir: str | os.PathLike | None = None,
    world: World | None = None,
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
        world: the heads and free-field share each sequence draws from (`World`; default:
            the spherical head, always in a room).
        overwrite: replace existing files. Without it, a complete set made with the same
            settings is kept as it is (a rerun does nothing), and any other existing file is a
            FileExistsError, raised before any work.
        progress: show a progress bar.

    Returns:
        The sequence folders written.
    """
    _check_arguments(train_minutes, test_minutes, sequences, seed)
    out_dir = Path(out_dir)
    world = world or World()
    settings = synthetic_settings(train_minutes, test_minutes, sequences, seed, speech_dir, world)
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
    heads = world.load()
    for (split, name, frames), child in zip(
        tqdm(plan, desc="sequences", disable=not progress), children, strict=True
    ):
        head, anechoic = world.draw(child)
        mono, binaural, tx, rx = _synthesize_sequence(
            np.random.default_rng(child), frames, speech, measured=heads[head], anechoic=anechoic,
            wall_reflection=world.wall_reflection)
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
    child = _sequence_seed(settings, split, name, root)
    return random_room(np.random.default_rng(child), reference_distance=REFERENCE_DISTANCE,
                       wall_reflection=World.from_settings(settings).wall_reflection)


def _sequence_seed(settings: dict, split: str, name: str, root) -> np.random.SeedSequence:
    plan = _settings_plan(settings)
    index = next((i for i, (s, n, _) in enumerate(plan) if (s, n) == (split, name)), None)
    if index is None:
        raise ValueError(f"{root} has no sequence {split}/{name}")
    return _sequence_seeds(settings["seed"], plan)[index]


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


def synthetic_settings(train_minutes, test_minutes, sequences, seed, speech_dir,
                       world: World | None = None) -> dict:
    """What a data set is a function of, as synthetic.json records it."""
    return {"train_minutes": train_minutes, "test_minutes": test_minutes,
            "sequences": sequences, "seed": seed,
            "speech_dir": None if speech_dir is None else str(speech_dir),
            **(world or World()).settings()}


def sequence_scene(root: str | os.PathLike, split: str, name: str) -> tuple[str, bool]:
    """The head (as named in the settings) and whether the scene is anechoic, for one sequence."""
    settings = json.loads((Path(root) / SETTINGS_FILE).read_text())
    world = World.from_settings(settings)
    head, anechoic = world.draw(_sequence_seed(settings, split, name, root))
    return world.heads[head], anechoic


def _settings_plan(settings: dict) -> list[tuple]:
    return _sequence_plan(settings["train_minutes"], settings["test_minutes"],
                          settings["sequences"])


def _sequence_seeds(seed: int, plan: list[tuple]) -> list[np.random.SeedSequence]:
    """Each sequence's own random source: the one place that fixes which draws it sees."""
    return np.random.SeedSequence(seed).spawn(len(plan))


def _files(out_dir: Path, plan: list[tuple]) -> list[Path]:
    names = (MONO, BINAURAL, TX_POSITIONS, RX_POSITIONS)
    return [out_dir / split / name / file for split, name, _ in plan for file in names]
