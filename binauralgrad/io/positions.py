"""Reading and writing tracking files: 120 Hz rows `x y z qx qy qz qw`, one per 400 samples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from binauralgrad.constants import FRAME_SAMPLES, POSITION_COLUMNS
from binauralgrad.io.atomic import atomic_write


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


def write_positions(path: str | os.PathLike, positions: np.ndarray, *,
                    overwrite: bool = False) -> Path:
    """Writes (K, 7) position rows as text, atomically.

    Nine significant digits: float32 rows read back (read_positions) bit for bit, so a file
    written beside an output reproduces the rows that made it.
    """
    rows = np.asarray(positions, dtype=np.float64)
    return atomic_write(path, lambda name: np.savetxt(name, rows, fmt="%.9g"), overwrite=overwrite)
