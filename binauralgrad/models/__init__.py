"""The BinauralGrad denoiser network and its step embedding."""

from __future__ import annotations

import importlib

# Imported on first use, so that `binauralgrad.models.config` (plain data) loads without torch.
_EXPORTS = {"BinauralDenoiser": "binauralgrad.models.denoiser",
            "DenoiserOutput": "binauralgrad.models.denoiser",
            "DenoiserConfig": "binauralgrad.models.config"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
