"""PositionalNoise: the same noise for any chunk, white, and the reference sampler's source."""

from __future__ import annotations

import torch

from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.sources import Windows
from binauralgrad.inference.terms import NOISE_AHEAD, NoiseRows


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


def test_a_stages_noise_rows_are_the_whole_draw_and_their_refills_are_staggered():
    noise = PositionalNoise(7)
    windows = Windows(torch.zeros(1, 2, 1), torch.zeros(1, 1, 1), torch.zeros(1, 7, 1), [0],
                      [0], 3 * NOISE_AHEAD)
    refills = {}
    for stage, channels in ((1, 1), (2, 2)):
        rows = NoiseRows(noise, stage, windows, channels, "cpu")
        for draw in (0, 1):
            whole = noise.sample(stage, draw, items=[0], starts=[0], length=3 * NOISE_AHEAD,
                                 channels=channels)
            read, starts = [], []
            for first in range(0, 3 * NOISE_AHEAD, 480):  # a stream's pushes
                count = min(480, 3 * NOISE_AHEAD - first)
                read.append(rows.rows(draw, first, count))
                starts.append(rows.held[draw][0])
            assert torch.equal(torch.cat(read, dim=1), whole)
            refills[stage, draw] = sorted(set(starts))[1]  # where the first refill happened
    # Each noise stream refills in its own push: no push pays for all of them.
    assert len({start // 480 for start in refills.values()}) == len(refills)
