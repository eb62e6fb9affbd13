"""Sequence folders of the Binaural Speech layout: finding, validating, loading, geowarping."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from binauralgrad import dsp
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.io.audio import audio_info, read_wav, write_wav
from binauralgrad.io.positions import read_positions

MONO = "mono.wav"
BINAURAL = "binaural.wav"
GEOWARP = "binaural_geowarp.wav"
TX_POSITIONS = "tx_positions.txt"
RX_POSITIONS = "rx_positions.txt"

# The whole-file warp is computed in blocks of this many 120 Hz frames (60 s) to bound memory;
# each block reads the mono context it needs, so the result equals one whole-file pass.
GEOWARP_BLOCK_FRAMES = 7200


@dataclass(frozen=True)
class SequenceInfo:
    """What a validated sequence folder holds (no audio)."""

    folder: Path
    num_samples: int
    has_binaural: bool
    has_geowarp: bool


def _natural_key(path: Path) -> list:
    # subject2 before subject10.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def find_sequences(root: str | os.PathLike) -> list[Path]:
    """Sequence folders under `root` (or `root` itself): those holding mono.wav or tx_positions.txt.

    A folder with only one of the two is returned too, so that validation can name the missing
    file instead of silently skipping the sequence. Hidden folders are ignored.

    Args:
        root: a dataset split (`trainset/`), a whole dataset, or one sequence folder.

    Returns:
        Sequence folders in natural order (subject2 before subject10).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such dataset folder: {root}")
    folders = {
        file.parent
        for name in (MONO, TX_POSITIONS)
        for file in root.rglob(name)
        if not any(part.startswith(".") for part in file.relative_to(root).parts)
    }
    if not folders:
        raise FileNotFoundError(f"no sequence folders (with {MONO} + {TX_POSITIONS}) under {root}")
    return sorted(folders, key=lambda folder: _natural_key(folder.relative_to(root)))


def _check_wav(path: Path, channels: int, num_samples: int | None) -> int:
    info = audio_info(path)
    if info.samplerate != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} Hz")
    if info.channels != channels:
        raise ValueError(f"{path}: {info.channels} channel(s), expected {channels}")
    if num_samples is not None and info.frames != num_samples:
        raise ValueError(f"{path}: {info.frames} samples, but {MONO} has {num_samples}")
    return info.frames


def _check_mono_and_positions(folder: Path) -> int:
    num_samples = _check_wav(folder / MONO, 1, None)
    if num_samples == 0:
        raise ValueError(f"{folder / MONO}: no samples")
    read_positions(folder / TX_POSITIONS, num_samples=num_samples)
    return num_samples


def inspect_sequence(folder: str | os.PathLike, *, require_binaural: bool = False) -> SequenceInfo:
    """Validates a sequence folder's files without reading their audio.

    Checks each WAV's rate (48 kHz), channels (mono 1, binaural 2, geowarp 2) and length, and
    that tx_positions.txt has one finite row of 7 values per 400 samples.

    Args:
        folder: the sequence folder.
        require_binaural: raise FileNotFoundError when binaural.wav is missing.

    Returns:
        A SequenceInfo.
    """
    folder = Path(folder)
    num_samples = _check_mono_and_positions(folder)
    has_binaural = (folder / BINAURAL).exists()
    if has_binaural:
        _check_wav(folder / BINAURAL, 2, num_samples)
    elif require_binaural:
        raise FileNotFoundError(f"no such audio file: {folder / BINAURAL}")
    has_geowarp = (folder / GEOWARP).exists()
    if has_geowarp:
        _check_wav(folder / GEOWARP, 2, num_samples)
    return SequenceInfo(folder, num_samples, has_binaural, has_geowarp)


def load_sequence(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a validated sequence folder into memory.

    Args:
        folder: the sequence folder.

    Returns:
        float32 arrays: `mono` (1, T), `positions` (K, 7) with K = T / 400, and when the files
        exist `binaural` (2, T) and `warped` (2, T) (from binaural_geowarp.wav).
    """
    info = inspect_sequence(folder)
    sequence = {
        "mono": read_wav(info.folder / MONO, channels=1),
        "positions": read_positions(info.folder / TX_POSITIONS, num_samples=info.num_samples),
    }
    if info.has_binaural:
        sequence["binaural"] = read_wav(info.folder / BINAURAL, channels=2)
    if info.has_geowarp:
        sequence["warped"] = read_wav(info.folder / GEOWARP, channels=2)
    return sequence


def warp_range(
    read_mono: Callable[[int, int], np.ndarray],
    positions: np.ndarray,
    *,
    start: int,
    num_samples: int,
) -> np.ndarray:
    """The geometric warp of samples start .. start + 400 * len(positions) of a longer sequence.

    Equals the same range of `dsp.geometric_warp` over the whole sequence (which is how the
    original wrote binaural_geowarp.wav), while reading only the mono context the delays need.

    Args:
        read_mono: `read_mono(lo, hi)` returns mono samples lo .. hi - 1 as a (hi - lo,) array.
        positions: (n, 7) rows for the frames of the range.
        start: the range's first sample, a multiple of 400.
        num_samples: T, the whole sequence's length.

    Returns:
        (2, 400 * n) float32 warped audio: left, right.
    """
    rows = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float32).T[None])
    length = rows.shape[-1] * FRAME_SAMPLES
    warpfield = dsp.warp_field(dsp.ear_distances(rows), length)
    times = dsp.read_times(warpfield, start=start, num_samples=num_samples)
    context_start = int(times.min().floor())
    mono = torch.from_numpy(np.ascontiguousarray(read_mono(context_start, start + length)))
    signal = mono.to(torch.float32)[None, None].expand(1, 2, -1)
    return dsp.interpolate_at(signal, times, signal_start=context_start)[0].numpy()


def compute_geowarp(folder: str | os.PathLike) -> np.ndarray:
    """The geometric warp of a whole sequence folder, (2, T) float32 (see `warp_range`)."""
    folder = Path(folder)
    num_samples = _check_mono_and_positions(folder)
    mono = read_wav(folder / MONO, channels=1)[0]
    positions = read_positions(folder / TX_POSITIONS, num_samples=num_samples)
    blocks = [
        warp_range(
            lambda lo, hi: mono[lo:hi],
            positions[first : first + GEOWARP_BLOCK_FRAMES],
            start=first * FRAME_SAMPLES,
            num_samples=num_samples,
        )
        for first in range(0, len(positions), GEOWARP_BLOCK_FRAMES)
    ]
    return np.concatenate(blocks, axis=1)


def write_geowarp(folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Writes `binaural_geowarp.wav` (float32, 48 kHz, 2 ch) into a sequence folder, atomically.

    Raises FileExistsError when it exists and `overwrite` is not set.
    """
    target = Path(folder) / GEOWARP
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite (--overwrite) to replace it")
    return write_wav(target, compute_geowarp(folder), overwrite=overwrite)
