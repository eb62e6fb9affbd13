"""Deprecated: original-checkpoint conversion moved to `binauralgrad.io.original`."""

from __future__ import annotations

import importlib
import warnings

_MOVED = ("config_from_params", "convert_original", "load_original_denoiser",
          "read_original_checkpoint", "rename_original_state", "schedule_from_params")


def __getattr__(name: str):
    if name in _MOVED:
        # stacklevel 2 names the caller's line, so the warning shows where to change it.
        warnings.warn(f"binauralgrad.convert is deprecated: import {name} from "
                      "binauralgrad.io.original", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("binauralgrad.io.original"), name)
    raise AttributeError(f"module 'binauralgrad.convert' has no attribute {name!r}")
