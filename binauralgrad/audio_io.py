"""Deprecated: the file functions moved to `binauralgrad.io` (this keeps old imports working)."""

from __future__ import annotations

import importlib
import warnings

_MOVED = {
    **dict.fromkeys(("OUTPUT_FORMATS", "PEAK_CEILING", "audio_info", "limit_peak", "read_mono",
                     "read_wav", "resample", "write_audio", "write_wav"), "binauralgrad.io.audio"),
    **dict.fromkeys(("read_positions", "write_positions"), "binauralgrad.io.positions"),
    **dict.fromkeys(("atomic_folder", "atomic_write"), "binauralgrad.io.atomic"),
    **dict.fromkeys(("FRAME_SAMPLES", "POSITION_COLUMNS", "SAMPLE_RATE"), "binauralgrad.constants"),
}


def __getattr__(name: str):
    if name in _MOVED:
        # stacklevel 2 names the caller's import line, so the warning shows where to change it.
        warnings.warn(f"binauralgrad.audio_io is deprecated: import {name} from "
                      f"{_MOVED[name]}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'binauralgrad.audio_io' has no attribute {name!r}")
