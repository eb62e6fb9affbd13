"""The Binaural Speech dataset: sequence folders, training chunks, collation, synthetic data."""

from __future__ import annotations

from binauralgrad.data.dataset import (
    BinauralCollator,
    chunk_starts,
    load_binaural_dataset,
)
from binauralgrad.data.render import render_binaural
from binauralgrad.data.sequence import (
    SequenceInfo,
    compute_geowarp,
    find_sequences,
    inspect_sequence,
    load_sequence,
    write_geowarp,
)
from binauralgrad.data.synthetic import make_synthetic_dataset
from binauralgrad.data.world import World

__all__ = [
    "BinauralCollator",
    "SequenceInfo",
    "chunk_starts",
    "compute_geowarp",
    "find_sequences",
    "inspect_sequence",
    "load_binaural_dataset",
    "load_sequence",
    "make_synthetic_dataset",
    "World",
    "render_binaural",
    "write_geowarp",
]
