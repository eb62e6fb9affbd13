"""FastOptions: the memory budget sets the tile, the cache and the windows per batch."""

from __future__ import annotations

import torch
from conftest import synthesize_moving

from binauralgrad.inference.folded import FastDenoiser
from binauralgrad.inference.options import FastOptions
from binauralgrad.inference.tuning import CPU_DEFAULT, Choice


def test_memory_budget_sets_windows_per_batch_and_keeps_the_audio(tiny, unchunked):
    models = [FastDenoiser(stage) for stage in (tiny.stage_one, tiny.stage_two)]
    one_window = FastOptions(max_memory_mb=None).schedule(models, 6, 960, 8, CPU_DEFAULT)
    assert one_window == (960, True, 1)
    roomy = FastOptions(max_memory_mb=64).schedule(models, 6, 960, 8, CPU_DEFAULT)
    tight = FastOptions(max_memory_mb=2).schedule(models, 6, 960, 8, CPU_DEFAULT)
    assert roomy == (960, True, 8) and tight[0] < 960 and tight[2] == 1
    overlap_s = tiny.receptive_field_seconds() + 0.002
    budgeted = synthesize_moving(tiny, 6000, chunk_seconds=0.02, overlap_seconds=overlap_s,
                                 crossfade_seconds=0.004, max_memory_mb=2)
    assert torch.equal(budgeted.audio, unchunked.audio)


def test_the_machine_choice_sets_tile_and_cache_unless_the_user_sets_the_tile(tiny):
    models = [FastDenoiser(stage) for stage in (tiny.stage_one, tiny.stage_two)]
    choice = Choice(tile=300, cache=False, backend="auto")
    assert FastOptions().schedule(models, 6, 960, 1, choice) == (300, False, 1)
    assert FastOptions(tile_seconds=0.01).schedule(models, 6, 960, 1, choice) == (480, False, 1)
    # A window under two of the machine's tiles runs as one tile; a tile the user sets is kept.
    assert FastOptions().schedule(models, 6, 500, 1, choice) == (500, False, 1)
    assert FastOptions(tile_seconds=0.005).schedule(models, 6, 500, 1, choice)[0] == 240
    # A budget never turns on a cache the machine's choice left off.
    assert FastOptions(max_memory_mb=64).schedule(models, 6, 960, 1, choice)[1] is False
