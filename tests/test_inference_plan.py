"""Chunk plans cover the input, joins are exact where chunks agree, the pipeline's reach."""

from __future__ import annotations

import pytest
import torch

from binauralgrad import DenoiserConfig
from binauralgrad.inference.plan import pipeline_reach, plan_chunks, stitch

PAPER = [DenoiserConfig.stage_one(), DenoiserConfig.stage_two()]

@pytest.mark.parametrize("length,chunk,overlap,fade", [
    (10_000, 1000, 300, 100), (10_001, 999, 0, 0), (5000, 4000, 700, 600), (12_345, 50, 2000, 50),
    (48_000, 24_000, 12_000, 2400),
])
def test_plans_cover_the_input_with_equal_windows_and_context_at_every_cut(
        length, chunk, overlap, fade):
    plan = plan_chunks(length, chunk, overlap, fade)
    assert plan.window == min(length, chunk + 2 * overlap)
    assert all(0 <= start and start + plan.window <= length for start in plan.starts)
    assert len(plan.cuts) == len(plan) - 1 and list(plan.cuts) == sorted(set(plan.cuts))
    territories = [0, *plan.cuts, length]
    for index, start in enumerate(plan.starts):  # each window holds its territory, with context
        low, high = territories[index], territories[index + 1]
        assert start <= max(0, low - overlap) and min(length, high + overlap) <= start + plan.window
    assert territories[0] == 0 and territories[-1] == length


def test_a_short_input_is_one_window():
    plan = plan_chunks(900, 500, 250, 100)
    assert (plan.window, plan.starts, plan.cuts) == (900, (0,), ())


@pytest.mark.parametrize("args,match", [
    ((0, 10, 0), "length"), ((100, 0, 0), "chunk"), ((100, 10, -1), "overlap"),
    ((100, 10, 5, 11), "fade"), ((100, 10, 20, 11), "fade"),
])
def test_bad_plans_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        plan_chunks(*args)


@pytest.mark.parametrize("fade", [0, 1, 64, 200])
def test_stitching_pieces_of_one_signal_gives_that_signal_bit_for_bit(fade):
    signal = torch.randn(2, 3, 5000)
    plan = plan_chunks(5000, 700, 100, fade)
    pieces = torch.stack([signal[..., start: start + plan.window] for start in plan.starts])
    assert torch.equal(stitch(pieces, plan), signal)


def test_stitching_cross_fades_between_disagreeing_pieces():
    plan = plan_chunks(3000, 1000, 200, 100)
    pieces = torch.stack([torch.full((1, plan.window), float(index))
                          for index in range(len(plan))])
    joined = stitch(pieces, plan)[0]
    cut = plan.cuts[0]
    assert torch.all(joined[: cut - 50] == 0)
    assert torch.all(joined[cut + 50: plan.cuts[1] - 50] == 1)
    fade = joined[cut - 50: cut + 50]
    assert torch.all(fade[1:] >= fade[:-1]) and 0 < fade[0] < 0.02 and 0.98 < fade[-1] < 1
    with pytest.raises(ValueError, match="do not fit"):
        stitch(pieces[:, :, :-1], plan)


def test_receptive_field_of_the_paper_pipeline():
    # 2 stages x (6 passes x 3 x (1 + 2 + ... + 512) + 3 for the condition encoder).
    assert pipeline_reach(PAPER, 6) == 2 * (6 * 3069 + 3) == 36_834
