"""Atomic writes: a file or folder is written beside its target, then renamed into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], *,
                 overwrite: bool = False, sync: bool = False) -> Path:
    """Calls `write(temp_name)` on a temporary file beside `path`, then renames it into place.

    A crash never leaves a half-written file under the final name, and an existing file is kept
    unless `overwrite` is set.

    Args:
        path: the file to write.
        write: writes the content to the temporary file name it is given.
        overwrite: replace an existing file.
        sync: flush the file to disk before the rename (for files that must survive a power
            loss, such as the pointer to the latest checkpoint).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temp_name)
        if sync:
            with open(temp_name, "rb+") as written:
                os.fsync(written.fileno())
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from others
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False,
               sync: bool = False) -> Path:
    """Writes `text` to `path` atomically (see `atomic_write`)."""
    return atomic_write(path, lambda name: Path(name).write_text(text), overwrite=overwrite,
                        sync=sync)


def replace_folder(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Renames a complete `staging` folder to `target`, replacing any folder already there."""
    staging, target = Path(staging), Path(target)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


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
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
