"""PositionalNoise: the same noise for any chunk, white, and the reference sampler's source."""

from __future__ import annotations

import torch

from binauralgrad.inference.noise import PositionalNoise


def test_positional_noise_is_the_same_for_any_chunk():
    noise = PositionalNoise.from_generator(torch.Generator().manual_seed(0))
    whole = noise.sample(2, 3, items=[0, 1], starts=[0, 0], length=20_000, channels=2)
    part = noise.sample(2, 3, items=[1], starts=[12_345], length=999, channels=2)
    assert torch.equal(part[0], whole[1, 12_345: 13_344])
    assert abs(whole.mean()) < 0.02 and abs(whole.std() - 1) < 0.02
    assert abs((whole[0, :, 0] * whole[0, :, 1]).mean()) < 0.02  # channels independent
    assert abs((whole[0, 1:, 0] * whole[0, :-1, 0]).mean()) < 0.02  # white
    assert not torch.equal(whole[0], whole[1])
    other_draw = noise.sample(2, 4, items=[0], starts=[0], length=100, channels=2)
    assert not torch.allclose(other_draw[0], whole[0, :100])
    again = PositionalNoise.from_generator(torch.Generator().manual_seed(0))
    assert again.seed == noise.seed != PositionalNoise.from_generator(
        torch.Generator().manual_seed(1)).seed


def test_positional_noise_source_feeds_the_reference_sampler():
    noise = PositionalNoise(3)
    source = noise.source(1, items=[0], starts=[0])
    first, second = source((1, 2, 50)), source((1, 2, 50))
    assert first.shape == (1, 2, 50)
    assert torch.equal(first[0].T, noise.sample(1, 0, items=[0], starts=[0], length=50,
                                                 channels=2)[0])
    assert torch.equal(second[0].T, noise.sample(1, 1, items=[0], starts=[0], length=50,
                                                  channels=2)[0])
