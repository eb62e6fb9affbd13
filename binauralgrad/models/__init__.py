"""The BinauralGrad denoiser network and its step embedding."""

from binauralgrad.models.denoiser import BinauralDenoiser, DenoiserConfig, DenoiserOutput

__all__ = ["BinauralDenoiser", "DenoiserConfig", "DenoiserOutput"]
