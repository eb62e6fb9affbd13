"""Sampling behind the pipeline: the wavefront fast path (and its parts) and the reference."""

# `sample_wavefront` and `sample_reference` are what BinauralGradPipeline calls; both draw the
# noise of one PositionalNoise, so they give the same audio up to float rounding.

from binauralgrad.inference.buffers import BufferPool
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.plan import WavefrontOptions, pipeline_reach
from binauralgrad.inference.reference import sample_reference, sample_stage
from binauralgrad.inference.sampler import sample_wavefront

__all__ = ["BufferPool", "PositionalNoise", "WavefrontOptions", "pipeline_reach",
           "sample_reference", "sample_stage", "sample_wavefront"]

# Names of 0.1, kept for one release: "fast" also named the 6-step schedule.
_DEPRECATED = {"FastOptions": "WavefrontOptions", "receptive_field": "pipeline_reach"}


def __getattr__(name: str):
    if name in _DEPRECATED:
        import warnings

        warnings.warn(f"binauralgrad.inference.{name} is deprecated: use {_DEPRECATED[name]}",
                      DeprecationWarning, stacklevel=2)
        return globals()[_DEPRECATED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
