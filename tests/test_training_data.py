"""Training batches: the order, crops and noise depend on seed, epoch and position only."""

from __future__ import annotations

import pytest
import torch

from binauralgrad.training.data import EpochSampler, SeededRows, TrainingCollator

pytest.importorskip("accelerate")
pytest.importorskip("datasets")


def test_fast_noise_levels_draw_only_the_samplers_steps(dataset_dir):
    from binauralgrad.data import load_binaural_dataset
    from binauralgrad.schedule import NoiseSchedule

    rows = SeededRows(load_binaural_dataset(dataset_dir / "trainset", chunk_length=8000,
                                            hop_length=4000))
    levels = NoiseSchedule().fast_timesteps()
    collate = TrainingCollator(4000, out_channels=1, num_train_steps=200, levels=levels)
    drawn = {float(collate([rows[key]])["timesteps"]) for key in EpochSampler(len(rows), 0)}
    assert drawn and all(min(abs(step - level) for level in levels) < 1e-5 for step in drawn)


def test_sampler_order_depends_on_seed_and_epoch_only():
    first, second = EpochSampler(10, seed=3), EpochSampler(10, seed=3)
    assert list(first) == list(second)
    second.set_epoch(1)
    assert list(first) != list(second)
    assert sorted(row for row, _ in second) == list(range(10))


def test_items_do_not_depend_on_how_the_batch_is_split(dataset_dir):
    from binauralgrad.data import load_binaural_dataset

    rows = SeededRows(load_binaural_dataset(dataset_dir / "trainset", chunk_length=8000,
                                            hop_length=4000))
    keys = list(EpochSampler(len(rows), seed=0))[:2]
    collate = TrainingCollator(4000, out_channels=2, num_train_steps=200)
    whole = collate([rows[key] for key in keys])
    halves = [collate([rows[key]]) for key in keys]
    for name, value in whole.items():
        assert torch.equal(value, torch.cat([half[name] for half in halves])), name
    assert whole["noise"].shape == (2, 2, 4000) and whole["positions"].shape == (2, 7, 10)
