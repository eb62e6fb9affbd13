"""Sampling behind the pipeline: the wavefront fast path (and its parts) and the reference."""

# `sample_wavefront` and `sample_reference` are what BinauralGradPipeline calls; both draw the
# noise of one PositionalNoise, so they give the same audio up to float rounding.

from binauralgrad.inference.chunks import receptive_field
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.options import FastOptions
from binauralgrad.inference.reference import sample_reference, sample_stage
from binauralgrad.inference.sampler import sample_wavefront

__all__ = ["FastOptions", "PositionalNoise", "receptive_field", "sample_reference",
           "sample_stage", "sample_wavefront"]
