"""Checkpoints: rotation, the latest pointer, failed saves and resume folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from binauralgrad.training import checkpoints as ckpt


class FakeAccelerator:
    is_main_process = True

    def __init__(self, fail: bool = False):
        self.fail = fail

    def wait_for_everyone(self):
        pass

    def save_state(self, folder):
        Path(folder, "model.safetensors").write_bytes(b"weights")
        if self.fail:
            raise RuntimeError("disk full")


def test_checkpoints_rotate_and_latest_names_the_newest(tmp_path):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(FakeAccelerator(), tmp_path, ckpt.TrainerState(step=step), keep=2)
    root = tmp_path / ckpt.CHECKPOINTS
    assert [path.name for path in ckpt.list_checkpoints(root)] == ["step_0000002", "step_0000003"]
    assert (root / ckpt.LATEST).read_text().strip() == "step_0000003"
    assert ckpt.resolve_resume(tmp_path, "latest") == root / "step_0000003"
    assert ckpt.TrainerState.read(root / "step_0000003").step == 3


def test_a_failed_save_leaves_the_previous_checkpoint_latest(tmp_path):
    ckpt.save_checkpoint(FakeAccelerator(), tmp_path, ckpt.TrainerState(step=1), keep=3)
    with pytest.raises(RuntimeError):
        ckpt.save_checkpoint(FakeAccelerator(fail=True), tmp_path, ckpt.TrainerState(step=2), 3)
    root = tmp_path / ckpt.CHECKPOINTS
    assert ckpt.latest_checkpoint(root) == root / "step_0000001"
    assert not (root / "step_0000002").exists()
    (root / ckpt.LATEST).unlink()  # even without the pointer, only complete folders count
    assert ckpt.resolve_resume(tmp_path, "latest") == root / "step_0000001"


def test_resume_refuses_missing_and_incomplete_folders(tmp_path):
    assert ckpt.resolve_resume(tmp_path, None) is None
    assert ckpt.resolve_resume(tmp_path, "latest") is None  # nothing yet: a fresh start
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        ckpt.resolve_resume(tmp_path, str(tmp_path / "nope"))
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        ckpt.resolve_resume(tmp_path, str(tmp_path / "half"))
