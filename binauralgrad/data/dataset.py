"""The Binaural Speech dataset as a `datasets.Dataset` of chunks, and a collator cutting crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.data.sequence import (
    BINAURAL,
    GEOWARP,
    MONO,
    TX_POSITIONS,
    find_sequences,
    inspect_sequence,
    warp_range,
)
from binauralgrad.io.audio import read_wav
from binauralgrad.io.positions import read_positions

CHUNK_LENGTH = 96000  # 2 s, the paper's training chunk
HOP_LENGTH = 48000  # chunks overlap by half
CLIP_LENGTH = 32000  # what one training example holds


def _check_length(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value % FRAME_SAMPLES:
        raise ValueError(f"{name} must be a multiple of {FRAME_SAMPLES} samples, got {value}")


def chunk_starts(
    num_samples: int, *, chunk_length: int = CHUNK_LENGTH, hop_length: int = HOP_LENGTH
):
    """Start samples of a sequence's chunks, as the paper's loader cuts them.

    Chunks start at 0, every `hop_length`, while a whole chunk fits: there are
    max(0, (T - chunk_length) // hop_length + 1) of them.

    Returns:
        A range of start samples.
    """
    return range(0, num_samples - chunk_length + 1, hop_length)


def load_binaural_dataset(
    path: str | os.PathLike,
    *,
    chunk_length: int = CHUNK_LENGTH,
    hop_length: int = HOP_LENGTH,
):
    """Indexes the sequences under `path` as one row per training chunk (no audio is read).

    Every sequence folder under `path` (see `find_sequences`) must hold a valid mono.wav,
    binaural.wav and tx_positions.txt (binaural_geowarp.wav is used when present).

    Args:
        path: a split such as `data/trainset`, or one sequence folder.
        chunk_length: samples per chunk (the paper: 96000, 2 s).
        hop_length: samples between chunk starts (the paper: 48000).

    Returns:
        A map-style `datasets.Dataset` with columns `sequence` (folder path), `name` (folder
        relative to `path`), `start` (first sample), `length` (= chunk_length) and `num_samples`
        (the sequence's length). Feed it to a DataLoader with `BinauralCollator`.
    """
    import datasets  # an optional dependency (the `train` extra); imported when needed

    _check_length("chunk_length", chunk_length)
    _check_length("hop_length", hop_length)
    root = Path(path)
    columns = {"sequence": [], "name": [], "start": [], "length": [], "num_samples": []}
    for folder in find_sequences(root):
        info = inspect_sequence(folder, require_binaural=True)
        for start in chunk_starts(
            info.num_samples, chunk_length=chunk_length, hop_length=hop_length
        ):
            columns["sequence"].append(str(folder.resolve()))
            columns["name"].append(folder.relative_to(root).as_posix() if folder != root else ".")
            columns["start"].append(start)
            columns["length"].append(chunk_length)
            columns["num_samples"].append(info.num_samples)
    if not columns["start"]:
        raise ValueError(
            f"{root}: no sequence is at least chunk_length={chunk_length} samples long"
        )
    return datasets.Dataset.from_dict(columns)


def crop_start(row: dict, clip_length: int, generator: torch.Generator) -> int:
    """A crop's first sample: 400-aligned, uniform over the row's chunk, from `generator`."""
    length = int(row["length"])
    if clip_length > length:
        raise ValueError(f"clip_length={clip_length} is longer than the dataset's chunks "
                         f"({length} samples)")
    frames = (length - clip_length) // FRAME_SAMPLES + 1
    return int(row["start"]) + FRAME_SAMPLES * int(torch.randint(frames, (1,),
                                                                 generator=generator))


class BinauralCollator:
    """Turns dataset rows into training batches: a random 400-aligned crop of each chunk.

    Use as `DataLoader(dataset, batch_size=..., shuffle=True, collate_fn=BinauralCollator(...))`.
    Under Accelerate, `accelerator.prepare(loader)` shards this map-style dataset: each process
    gets its own slice of the (shuffled) row indices and collates only those rows, so nothing
    here needs to know the process count. Pass `seed + accelerator.process_index` to decorrelate
    the crops of different processes.

    Randomness comes only from `seed`. In DataLoader workers, each worker mixes its
    `worker_info.seed` (new every epoch, drawn from the DataLoader's own `generator`) into a
    generator of its own, so workers and epochs differ; pass `generator=` to the DataLoader for
    runs that repeat exactly.

    Args:
        clip_length: samples per example (the paper: 32000), a multiple of 400.
        seed: an int, a torch.Generator (used as is), or None for a nondeterministic seed.
    """

    def __init__(self, clip_length: int = CLIP_LENGTH, seed: int | torch.Generator | None = None):
        _check_length("clip_length", clip_length)
        self.clip_length = clip_length
        if isinstance(seed, torch.Generator):
            self.generator = seed
        else:
            self.generator = torch.Generator()
            if seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(int(seed))
        self._positions: dict[str, np.ndarray] = {}  # per sequence; each worker fills its own
        self._worker: tuple[int, torch.Generator] | None = None

    def __call__(self, rows: list[dict],
                 starts: list[int] | None = None) -> dict[str, torch.Tensor]:
        """Collates rows of `load_binaural_dataset` into a batch.

        Args:
            rows: the rows. starts: each crop's first sample (the hook for a caller that draws
                the crops itself, as `crop_start` does); None draws them here.

        Returns:
            float32 tensors `mono` (B, 1, T), `binaural` (B, 2, T), `warped` (B, 2, T),
            `mean` (B, 1, T) (average of the ears), `positions` (B, 7, K) with K = T / 400,
            and `start` (B,) int64, each crop's first sample within its sequence.
        """
        if not rows:
            raise ValueError("cannot collate an empty batch")
        if starts is None:
            generator = self._generator()
            starts = [crop_start(row, self.clip_length, generator) for row in rows]
        items = [self._read(row, start) for row, start in zip(rows, starts, strict=True)]
        batch = {key: torch.from_numpy(np.stack([item[key] for item in items])) for key in items[0]}
        batch["mean"] = batch["binaural"].mean(dim=1, keepdim=True)
        return batch

    def _generator(self) -> torch.Generator:
        info = torch.utils.data.get_worker_info()
        if info is None:
            return self.generator
        if self._worker is None or self._worker[0] != info.seed:
            base = int(torch.randint(0, 2**62, (1,), generator=self.generator))
            self._worker = (info.seed, torch.Generator().manual_seed((base + info.seed) % 2**63))
        return self._worker[1]

    def _sequence_positions(self, folder: Path, num_samples: int) -> np.ndarray:
        key = str(folder)
        if key not in self._positions:
            self._positions[key] = read_positions(folder / TX_POSITIONS, num_samples=num_samples)
        return self._positions[key]

    def _read(self, row: dict, start: int) -> dict[str, np.ndarray]:
        clip = self.clip_length
        folder, num_samples = Path(row["sequence"]), int(row["num_samples"])
        first = start // FRAME_SAMPLES
        positions = self._sequence_positions(folder, num_samples)[
            first : first + clip // FRAME_SAMPLES
        ]

        def read(name: str, channels: int, lo: int = start, count: int = clip) -> np.ndarray:
            audio = read_wav(folder / name, channels=channels, start=lo, frames=count)
            if audio.shape[-1] != count:
                raise ValueError(
                    f"{folder / name}: ends before sample {lo + count} (file changed?)"
                )
            return audio

        if (folder / GEOWARP).exists():
            warped = read(GEOWARP, 2)
        else:
            read_mono = lambda lo, hi: read(MONO, 1, lo, hi - lo)[0]  # noqa: E731
            warped = warp_range(read_mono, positions, start=start, num_samples=num_samples)
        return {
            "mono": read(MONO, 1),
            "binaural": read(BINAURAL, 2),
            "warped": warped,
            "positions": np.ascontiguousarray(positions.T),
            "start": np.int64(start),
        }
