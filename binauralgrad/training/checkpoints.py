"""Resumable checkpoints: Accelerate's state plus our step and data position, written atomically."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from binauralgrad.io.atomic import replace_folder, write_text

CHECKPOINTS = "checkpoints"
LATEST = "latest"  # a one-line file naming the newest complete checkpoint folder
TRAINER_STATE = "trainer_state.json"
_STEP_FOLDER = re.compile(r"^step_(\d+)$")


@dataclass
class TrainerState:
    """What Accelerate's state does not hold: our own counters (its `step` is not ours).

    Attributes:
        step: optimizer steps completed.
        epoch: the data epoch in progress (its order is a function of seed and epoch).
        batches_in_epoch: micro-batches of that epoch already consumed.
        seed: the run's seed, checked on resume.
        stage: 1 or 2, checked on resume.
    """

    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    seed: int = 0
    stage: int = 1

    @classmethod
    def read(cls, folder: str | os.PathLike) -> TrainerState:
        path = Path(folder) / TRAINER_STATE
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not a complete checkpoint: no {TRAINER_STATE}")
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"{path} is not a trainer state ({error})") from error

    def write(self, folder: str | os.PathLike) -> None:
        write_text(Path(folder) / TRAINER_STATE, json.dumps(asdict(self), indent=2) + "\n",
                   overwrite=True, sync=True)


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}"


def save_checkpoint(accelerator, output_dir: str | os.PathLike, state: TrainerState,
                    keep: int, extra: Callable[[Path], None] | None = None) -> Path:
    """Saves a resumable checkpoint on every process and marks it latest once it is complete.

    Every process writes its part (its RNG state) into a hidden staging folder; the main process
    then renames it to `checkpoints/step_XXXXXXX` and replaces the `latest` pointer, so a crash
    at any moment leaves the previous checkpoint as latest. Needs an output folder all processes
    share (all nodes, for multi-node runs).

    Args:
        accelerator: the run's Accelerator (model, optimizer, scaler and EMA registered).
        output_dir: the run's folder.
        state: the counters to store beside Accelerate's state.
        keep: how many of the newest checkpoints to keep.
        extra: called on the main process with the staging folder to add files (an export).

    Returns:
        The checkpoint folder.
    """
    root = Path(output_dir) / CHECKPOINTS
    final = root / checkpoint_name(state.step)
    staging = root / f".staging-{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)  # left by a crash during an earlier save
        staging.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    if accelerator.is_main_process:
        if extra is not None:
            extra(staging)
        state.write(staging)  # written last: its presence marks the folder complete
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_folder(staging, final)
        write_text(root / LATEST, final.name + "\n", overwrite=True, sync=True)
        rotate_checkpoints(root, keep)
    accelerator.wait_for_everyone()
    return final


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """The complete checkpoint folders under `root`, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in root.iterdir()
             if (match := _STEP_FOLDER.match(path.name)) and (path / TRAINER_STATE).is_file()]
    return [path for _, path in sorted(found)]


def rotate_checkpoints(root: str | os.PathLike, keep: int) -> None:
    """Deletes all but the `keep` newest checkpoints (never the one `latest` names)."""
    root = Path(root)
    latest = latest_checkpoint(root)
    for path in list_checkpoints(root)[:-keep] if keep > 0 else []:
        if path != latest:
            shutil.rmtree(path, ignore_errors=True)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The checkpoint the `latest` pointer names, else the newest complete one, else None."""
    root = Path(root)
    pointer = root / LATEST
    if pointer.is_file():
        target = root / pointer.read_text().strip()
        if (target / TRAINER_STATE).is_file():
            return target
    found = list_checkpoints(root)
    return found[-1] if found else None


def resolve_resume(output_dir: str | os.PathLike, resume: str | None) -> Path | None:
    """The checkpoint folder `--resume` means.

    Args:
        output_dir: the run's folder.
        resume: None (start fresh), "latest" (the newest in `output_dir`, or a fresh start when
            there is none yet), or a checkpoint folder.

    Raises:
        FileNotFoundError: `resume` names a folder that is missing or incomplete.
    """
    if resume is None:
        return None
    if resume == LATEST:
        return latest_checkpoint(Path(output_dir) / CHECKPOINTS)
    folder = Path(resume)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such checkpoint folder: {folder}")
    TrainerState.read(folder)  # raises for a half-written or foreign folder
    return folder


def restore(accelerator, output_dir: str | os.PathLike, resume: str | None, *, stage: int,
            seed: int, ema=None) -> TrainerState | None:
    """Loads the checkpoint `--resume` means into the run; None for a fresh start.

    Args:
        accelerator: the run's Accelerator (model, optimizer and scaler prepared).
        output_dir: the run's folder. resume: None, "latest" or a checkpoint folder.
        stage, seed: the run's, which the checkpoint must share.
        ema: the run's ExponentialMovingAverage, if it keeps one.

    Raises:
        FileExistsError: a fresh start (no `resume`) in a folder that holds checkpoints.
        ValueError: a checkpoint of another stage or seed.
    """
    checkpoint = resolve_resume(output_dir, resume)
    if checkpoint is None and resume is None and \
            list_checkpoints(Path(output_dir) / CHECKPOINTS):
        raise FileExistsError(f"{output_dir} already holds checkpoints; pass --resume latest to "
                              "continue, or choose a new output folder")
    if checkpoint is None:
        return None
    saved = TrainerState.read(checkpoint)
    if (saved.stage, saved.seed) != (stage, seed):
        raise ValueError(f"{checkpoint} is stage {saved.stage} with seed {saved.seed}; "
                         f"this run is stage {stage} with seed {seed}")
    accelerator.load_state(str(checkpoint))
    if ema is not None:
        ema.load(checkpoint)
    return saved
