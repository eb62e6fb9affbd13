"""Reading and writing the dataset's files: 48 kHz WAVs and 120 Hz position tables, validated."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 48000
FRAME_SAMPLES = 400  # audio samples per 120 Hz position row
POSITION_COLUMNS = 7  # x y z qx qy qz qw


def read_wav(
    path: str | os.PathLike,
    *,
    channels: int | None = None,
    sample_rate: int = SAMPLE_RATE,
    start: int = 0,
    frames: int = -1,
) -> np.ndarray:
    """Reads a WAV (or a range of it) as float32, channels first.

    Args:
        path: the file.
        channels: the channel count the file must have, or None for any.
        sample_rate: the rate the file must have.
        start, frames: the range to read, in samples (frames=-1 reads to the end).

    Returns:
        (C, T) float32 array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    try:
        with soundfile.SoundFile(str(path)) as file:
            if file.samplerate != sample_rate:
                raise ValueError(f"{path}: sample rate {file.samplerate} Hz, "
                                 f"expected {sample_rate} Hz")
            if channels is not None and file.channels != channels:
                raise ValueError(f"{path}: {file.channels} channel(s), expected {channels}")
            file.seek(start)
            audio = file.read(frames, dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from error
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: audio contains NaN or inf")
    return np.ascontiguousarray(audio.T)


def audio_info(path: str | os.PathLike) -> soundfile._SoundFileInfo:
    """Sample rate, channels and length of an audio file, without reading its samples."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    try:
        return soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from error


def read_positions(path: str | os.PathLike, *, num_samples: int | None = None) -> np.ndarray:
    """Reads a tracking file of 120 Hz rows `x y z qx qy qz qw`.

    Args:
        path: the text file, one row of 7 numbers per 400 audio samples.
        num_samples: when given, the audio length the rows must cover (rows == num_samples / 400).

    Returns:
        (K, 7) float32 array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such positions file: {path}")
    try:
        positions = np.loadtxt(str(path), dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path}: not a table of numbers ({error})") from error
    if positions.shape[1] != POSITION_COLUMNS:
        raise ValueError(f"{path}: rows of {positions.shape[1]} values, "
                         f"expected {POSITION_COLUMNS}")
    if not np.isfinite(positions).all():
        bad_row = int(np.argwhere(~np.isfinite(positions))[0, 0])
        raise ValueError(f"{path}: NaN or inf in positions (row {bad_row})")
    if num_samples is not None and positions.shape[0] * FRAME_SAMPLES != num_samples:
        raise ValueError(
            f"{path}: {positions.shape[0]} position rows cover "
            f"{positions.shape[0] * FRAME_SAMPLES} samples, but the audio has {num_samples} "
            f"(expected {num_samples / FRAME_SAMPLES:g} rows)"
        )
    return positions.astype(np.float32)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], *,
                 overwrite: bool = False) -> Path:
    """Calls `write(temp_name)` on a temporary file beside `path`, then renames it into place.

    A crash never leaves a half-written file under the final name, and an existing file is kept
    unless `overwrite` is set.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temp_name)
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from others
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_folder(path: str | os.PathLike, write: Callable[[Path], None], *,
                  overwrite: bool = False) -> Path:
    """Calls `write(staging)` on a new folder beside `path`, then renames it into place.

    An interrupted write never leaves a half-written folder under the final name. A non-empty
    folder already at `path` is replaced only with `overwrite`.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise FileExistsError(f"{target} exists and is not empty; pass overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(staging)
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the folder
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_wav(
    path: str | os.PathLike,
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
    subtype: str = "FLOAT",
) -> Path:
    """Writes (C, T) audio as a WAV file atomically (see `atomic_write`)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {audio.shape}")
    return atomic_write(
        path,
        lambda name: soundfile.write(name, audio.T, sample_rate, subtype=subtype, format="WAV"),
        overwrite=overwrite,
    )


def write_positions(path: str | os.PathLike, positions: np.ndarray, *,
                    overwrite: bool = False) -> Path:
    """Writes (K, 7) position rows as text, atomically."""
    rows = np.asarray(positions, dtype=np.float64)
    return atomic_write(path, lambda name: np.savetxt(name, rows, fmt="%.6f"), overwrite=overwrite)
