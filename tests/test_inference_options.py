"""WavefrontOptions and plan_batches: the budget sets the tile, the cache and windows per batch."""

from __future__ import annotations

import pytest
import torch
from conftest import synthesize_moving

from binauralgrad.inference.backends import Backend, select
from binauralgrad.inference.plan import WavefrontOptions, plan_batches

DEFAULT = Backend("auto", torch.float32, 4096, True)  # the CPU defaults


def budget(mb, backend=DEFAULT):
    return Backend(backend.kernels, backend.dtype, backend.tile, backend.cache, mb)


def test_memory_budget_sets_windows_per_batch_and_keeps_the_audio(tiny, unchunked):
    configs = [tiny.stage_one.config, tiny.stage_two.config]
    one_window = plan_batches(configs, 6, 960, 8, DEFAULT)
    assert one_window == (960, True, 1)
    roomy = plan_batches(configs, 6, 960, 8, budget(64))
    tight = plan_batches(configs, 6, 960, 8, budget(2))
    assert roomy == (960, True, 8) and tight[0] < 960 and tight[2] == 1
    overlap_s = tiny.receptive_field_seconds() + 0.002
    budgeted = synthesize_moving(tiny, 6000, chunk_seconds=0.02, overlap_seconds=overlap_s,
                                 crossfade_seconds=0.004, max_memory_mb=2)
    assert torch.equal(budgeted.audio, unchunked.audio)


def test_the_machine_choice_sets_tile_and_cache_unless_the_user_sets_the_tile(tiny):
    configs = [tiny.stage_one.config, tiny.stage_two.config]
    choice = Backend("auto", torch.float32, tile=300, cache=False)
    assert plan_batches(configs, 6, 960, 1, choice) == (300, False, 1)
    assert plan_batches(configs, 6, 960, 1, choice, tile_seconds=0.01) == (480, False, 1)
    # A window under two of the machine's tiles runs as one tile; a tile the user sets is kept.
    assert plan_batches(configs, 6, 500, 1, choice) == (500, False, 1)
    assert plan_batches(configs, 6, 500, 1, choice, tile_seconds=0.005)[0] == 240
    # A budget never turns on a cache the machine's choice left off.
    assert plan_batches(configs, 6, 960, 1, budget(64, choice))[1] is False


def test_select_gives_a_cpu_its_defaults_and_the_users_budget(monkeypatch):
    monkeypatch.setenv("BINAURALGRAD_TUNING", "off")
    chosen = select("cpu", torch.float32, max_memory_mb=5)
    assert (chosen.tile, chosen.cache, chosen.memory_mb, chosen.dtype) == \
        (4096, True, 5, torch.float32)
    assert select("cpu", torch.float32).memory_mb is None  # no limit on a CPU unless asked


def test_the_old_names_still_work_with_a_deprecation_warning():
    import binauralgrad.inference as inference
    from binauralgrad.inference import folded

    with pytest.warns(DeprecationWarning, match="WavefrontOptions"):
        assert inference.FastOptions is WavefrontOptions
    with pytest.warns(DeprecationWarning, match="FoldedDenoiser"):
        assert folded.FastDenoiser is folded.FoldedDenoiser
    with pytest.warns(DeprecationWarning, match="pipeline_reach"):
        assert inference.receptive_field is inference.pipeline_reach
