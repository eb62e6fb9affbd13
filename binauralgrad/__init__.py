"""BinauralGrad: mono speech plus the talker's position to binaural audio with two-stage diffusion."""

from binauralgrad.models.denoiser import BinauralDenoiser, DenoiserConfig, DenoiserOutput
from binauralgrad.pipeline import BinauralGradPipeline, BinauralOutput
from binauralgrad.schedule import NoiseSchedule

__version__ = "0.1.0"

__all__ = [
    "BinauralDenoiser",
    "BinauralGradPipeline",
    "BinauralOutput",
    "DenoiserConfig",
    "DenoiserOutput",
    "NoiseSchedule",
    "__version__",
]
