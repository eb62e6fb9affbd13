"""Atomic writes: existing files are kept, failures leave nothing, outputs get the umask."""

from __future__ import annotations

import os

import numpy as np
import pytest

from binauralgrad.io.atomic import atomic_folder, atomic_write, write_text
from binauralgrad.io.audio import write_wav


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


def test_text_is_replaced_only_when_asked_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = write_text(tmp_path / "latest", "step_1\n", sync=True)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_text(path, "step_2\n")
    write_text(path, "step_2\n", overwrite=True, sync=True)

    def broken(name):
        with open(name, "w") as handle:
            handle.write("step_3")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken, overwrite=True)
    assert path.read_text() == "step_2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["latest"]  # no temporary files left
