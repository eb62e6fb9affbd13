"""Training batches whose crops, timesteps and noise depend only on (seed, epoch, item position).

Every random choice for an item is drawn from a generator seeded by the item's place in the
global data order, never from a per-process or per-worker stream. So a run resumed at any step
sees exactly the batches the uninterrupted run would have seen, and N processes of batch B/N
see exactly the items, crops and noise of one process of batch B.
"""

from __future__ import annotations

import hashlib

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from binauralgrad.data import BinauralCollator
from binauralgrad.data.dataset import crop_start


def mix_seed(*values: int) -> int:
    """A well-spread 63-bit seed from several integers (seed, epoch, position, ...)."""
    digest = hashlib.blake2b(":".join(str(int(v)) for v in values).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") & (2**63 - 1)


class EpochSampler(Sampler):
    """Yields `(row, item_seed)` in a shuffled order that is a function of (seed, epoch) alone.

    Call `set_epoch` before iterating each epoch. Every process computes the same order; the
    Accelerate-prepared DataLoader then hands each process its slice of every batch.

    Args:
        num_rows: rows of the dataset.
        seed: the run's seed.
    """

    def __init__(self, num_rows: int, seed: int):
        self.num_rows = num_rows
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self):
        order = torch.randperm(self.num_rows,
                               generator=torch.Generator().manual_seed(mix_seed(self.seed,
                                                                                self.epoch)))
        for position, row in enumerate(order.tolist()):
            yield row, mix_seed(self.seed, self.epoch, position, 1)


class SeededRows(Dataset):
    """A `datasets.Dataset` of chunks indexed by `(row, item_seed)`; the seed rides along."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        row, item_seed = key
        return {**self.rows[int(row)], "item_seed": int(item_seed)}


class TrainingCollator:
    """Crops each chunk, then draws its timestep and noise, all from the item's own seed.

    The crop start is drawn here by the data package's `crop_start`, from the item's own
    generator, and handed to BinauralCollator (its `starts` hook), so that the reading,
    warping and mean stay the data package's.

    Args:
        clip_length: samples per example, a multiple of 400.
        out_channels: channels of the noise: 1 (stage one) or 2 (stage two).
        num_train_steps: timesteps are drawn uniformly from [0, num_train_steps).
        levels: if given, timesteps are drawn uniformly from these (continuous) steps instead,
            for example the fast sampler's (`NoiseSchedule.fast_timesteps()`).

    Returns (when called on rows of `SeededRows`):
        The BinauralCollator batch plus `timesteps` (B,) (int64, or float32 with `levels`) and
        `noise` (B, C, T) float32.
    """

    def __init__(self, clip_length: int, out_channels: int, num_train_steps: int,
                 levels: list[float] | None = None):
        self.clip_length = clip_length
        self.out_channels = out_channels
        self.num_train_steps = num_train_steps
        self.levels = None if levels is None else torch.tensor(levels, dtype=torch.float32)
        self.collator = BinauralCollator(clip_length, seed=0)  # reads the crops given to it

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        generators = [torch.Generator().manual_seed(row["item_seed"]) for row in rows]
        starts = [crop_start(row, self.clip_length, generator)
                  for row, generator in zip(rows, generators, strict=True)]
        batch = self.collator(rows, starts)
        batch["timesteps"] = torch.cat([self._timestep(g) for g in generators])
        batch["noise"] = torch.stack([torch.randn(self.out_channels, self.clip_length,
                                                  generator=g) for g in generators])
        return batch

    def _timestep(self, generator: torch.Generator) -> torch.Tensor:
        if self.levels is None:
            return torch.randint(self.num_train_steps, (1,), generator=generator)
        return self.levels[torch.randint(len(self.levels), (1,), generator=generator)]


def build_loader(config, schedule) -> tuple[EpochSampler, DataLoader]:
    """The run's data: its data set's chunks in seeded order, batched by `TrainingCollator`.

    Args:
        config: the TrainingConfig (data folder, chunking, sizes, seed, noise levels, workers).
        schedule: the NoiseSchedule, whose fast steps "fast" noise levels draw from.

    Returns:
        The sampler (to set each epoch) and the DataLoader of micro-batches.
    """
    from binauralgrad.data import load_binaural_dataset

    rows = load_binaural_dataset(config.data_dir, chunk_length=config.chunk_length,
                                 hop_length=config.hop_length)
    if len(rows) < config.micro_batch_size:
        raise ValueError(f"{config.data_dir} has {len(rows)} chunks of {config.chunk_length}"
                         f" samples, fewer than one micro-batch ({config.micro_batch_size})")
    sampler = EpochSampler(len(rows), config.seed)
    model_config = config.denoiser_config()
    levels = schedule.fast_timesteps() if config.noise_levels == "fast" else None
    collator = TrainingCollator(config.clip_length, model_config.out_channels,
                                model_config.num_train_steps, levels)
    loader = DataLoader(SeededRows(rows), batch_size=config.micro_batch_size, sampler=sampler,
                        drop_last=True, collate_fn=collator, num_workers=config.num_workers)
    return sampler, loader
