"""audio_io: validated reads, atomic writes that keep existing files and the usual permissions."""

from __future__ import annotations

import os

import numpy as np
import pytest

from binauralgrad.audio_io import (
    atomic_folder,
    read_positions,
    read_wav,
    write_positions,
    write_wav,
)


def test_round_trip_and_refusal_to_overwrite(tmp_path):
    audio = np.random.default_rng(0).standard_normal((2, 800)).astype(np.float32) * 0.1
    path = write_wav(tmp_path / "a.wav", audio)
    np.testing.assert_array_equal(read_wav(path, channels=2), audio)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_wav(path, audio)
    write_positions(tmp_path / "p.txt", np.zeros((2, 7)))
    assert read_positions(tmp_path / "p.txt", num_samples=800).shape == (2, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "p.txt"]  # no temp files


def test_outputs_get_the_umask_permissions_not_the_temp_files(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_wav(tmp_path / "a.wav", np.zeros((1, 10)))
        folder = atomic_folder(tmp_path / "model", lambda staging: (staging / "x").write_text("1"))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644
    assert folder.stat().st_mode & 0o777 == 0o755


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    def broken(staging):
        (staging / "half").write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_folder(tmp_path / "model", broken)
    assert list(tmp_path.iterdir()) == []
