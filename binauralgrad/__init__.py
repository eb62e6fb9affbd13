"""BinauralGrad: mono speech plus the talker's position to binaural audio by two-stage diffusion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from binauralgrad._lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> defining module. Imported on first use so that `import binauralgrad.data` or the
# command line's start-up does not pay for the whole model stack.
_EXPORTS = {
    "BinauralDenoiser": "binauralgrad.models.denoiser",
    "DenoiserConfig": "binauralgrad.models.denoiser",
    "DenoiserOutput": "binauralgrad.models.denoiser",
    "NoiseSchedule": "binauralgrad.schedule",
    "BinauralGradPipeline": "binauralgrad.pipeline",
    "BinauralOutput": "binauralgrad.pipeline",
    "BinauralStream": "binauralgrad.inference.stream",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from binauralgrad.inference.stream import BinauralStream  # noqa: F401
    from binauralgrad.models.denoiser import (  # noqa: F401
        BinauralDenoiser,
        DenoiserConfig,
        DenoiserOutput,
    )
    from binauralgrad.pipeline import BinauralGradPipeline, BinauralOutput  # noqa: F401
    from binauralgrad.schedule import NoiseSchedule  # noqa: F401


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
