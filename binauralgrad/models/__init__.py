"""The BinauralGrad denoiser network and its step embedding."""

from __future__ import annotations

from binauralgrad._lazy import lazy_exports

# Imported on first use, so that `binauralgrad.models.config` (plain data) loads without torch.
_EXPORTS = {"BinauralDenoiser": "binauralgrad.models.denoiser",
            "DenoiserOutput": "binauralgrad.models.denoiser",
            "DenoiserConfig": "binauralgrad.models.config"}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
