"""The plan: chunk plans and joins, the pipeline's reach, the memory estimate against what the
wavefront holds, and the budget's tile, cache and windows per batch."""

from __future__ import annotations

import pytest
import torch
from conftest import moving_positions, speech_like, synthesize_moving

from binauralgrad import BinauralDenoiser, DenoiserConfig, NoiseSchedule
from binauralgrad.dsp import geometric_warp
from binauralgrad.inference import wavefront
from binauralgrad.inference.backends import Backend
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.plan import (
    MIN_TILE,
    estimate_memory,
    pipeline_reach,
    plan_batches,
    plan_chunks,
    plan_tile,
    stitch,
)
from binauralgrad.inference.sources import Windows
from binauralgrad.inputs import prepare_inputs
from binauralgrad.training.config import MODEL_SIZES

PAPER = [DenoiserConfig.stage_one(), DenoiserConfig.stage_two()]
# The estimate may be this far from the tensors the wavefront really holds, either way.
ESTIMATE_FACTOR = 1.25  # measured: 1.0 to 1.19
DEFAULT = Backend("auto", torch.float32, 4096, True)  # the CPU defaults


def budget(mb, backend=DEFAULT):
    return Backend(backend.kernels, backend.dtype, backend.tile, backend.cache, mb)


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


def test_the_reaches_of_the_paper_pipeline():
    # 2 stages x (6 passes x 3 x (1 + 2 + ... + 512) + 3 for the condition encoder).
    assert PAPER[0].pass_reach == 3 * 1023 and PAPER[0].stage_reach(6) == 6 * 3069 + 3
    assert pipeline_reach(PAPER, 6) == 2 * (6 * 3069 + 3) == 36_834


def held_bytes(stream: wavefront.StageStream) -> int:
    """Bytes of the distinct storages a stage's stream keeps between ticks (its output aside)."""
    work = stream.work
    tensors = [ring.data for ring in stream.rings] + work.tensors()
    for current in stream.passes:
        tensors += [current.inputs, *(layer.pending for layer in current.layers)]
        tensors += [bias for biases in current.biases for bias in biases]
    storages = {tensor.untyped_storage().data_ptr(): tensor.untyped_storage().nbytes()
                for tensor in tensors}
    return sum(storages.values())


def measured_peak(size: str, length: int, tile: int, cache: bool, monkeypatch) -> tuple[int, int]:
    """(the most bytes both stages' streams held after any tick, the estimate for them)."""
    torch.manual_seed(0)
    stages = (DenoiserConfig.stage_one(**MODEL_SIZES[size]),
              DenoiserConfig.stage_two(**MODEL_SIZES[size]))
    models = [FoldedDenoiser(BinauralDenoiser(config)) for config in stages]
    inputs = prepare_inputs(speech_like(length), moving_positions(-(-length // 400)))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], inputs.mono.shape[-1])
    steps = NoiseSchedule().sampling_steps("fast")
    held, peak, tick = {}, [0], wavefront.StageStream.tick

    def measured_tick(self):
        moved = tick(self)
        held[id(self)] = held_bytes(self)
        peak[0] = max(peak[0], sum(held.values()))
        return moved

    monkeypatch.setattr(wavefront.StageStream, "tick", measured_tick)
    wavefront.run_wavefront(*models, steps, windows, PositionalNoise(0), tile=tile, cache=cache)
    estimate = estimate_memory(list(stages), len(steps), tile=tile, batch=1, element_bytes=4,
                               cache=cache)
    return peak[0], estimate


def test_memory_estimate_grows_with_tile_and_batch_and_shrinks_without_cache():
    def estimate(**overrides):
        options = {"tile": 4096, "batch": 1, "element_bytes": 4, "cache": True, **overrides}
        return estimate_memory(PAPER, 6, **options)

    assert estimate(tile=2048) < estimate() < estimate(tile=8192)
    assert estimate(batch=2) == 2 * estimate()
    assert estimate(element_bytes=2) == estimate() // 2
    assert estimate(cache=False) < estimate() / 5


def test_the_tile_plan_respects_the_budget():
    def plan(budget):
        return plan_tile(PAPER, 6, max_memory_mb=budget, preferred_tile=8192, batch=1,
                         element_bytes=4)

    assert plan(None) == (8192, True)
    roomy = estimate_memory(PAPER, 6, tile=8192, batch=1, element_bytes=4, cache=True)
    assert plan(roomy / 2**20) == (8192, True)
    tile, cache = plan(roomy / 2**20 * 0.8)
    assert tile < 8192 and cache
    for budget in (300, 150):
        tile, cache = plan(budget)
        used = estimate_memory(PAPER, 6, tile=tile, batch=1, element_bytes=4, cache=cache)
        assert not cache and MIN_TILE <= tile and used <= budget * 2**20
    with pytest.raises(ValueError, match="below the least"):
        plan(1)
    with pytest.raises(ValueError, match="positive"):
        plan(0)


@pytest.mark.parametrize("size,length,tile,cache", [
    ("tiny", 3000, 256, True), ("tiny", 3000, 256, False),
    pytest.param("small", 8000, 512, True, marks=pytest.mark.slow),
    pytest.param("small", 8000, 512, False, marks=pytest.mark.slow),
])
def test_the_estimate_is_what_the_wavefront_holds(size, length, tile, cache, monkeypatch):
    # What estimate_memory counts: each stage's conditioner ring, the rows every layer of every
    # pass keeps and the layer workspace, all kept by the stage streams between ticks.
    peak, estimate = measured_peak(size, length, tile, cache, monkeypatch)
    assert estimate / ESTIMATE_FACTOR <= peak <= estimate * ESTIMATE_FACTOR, (peak, estimate)


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
