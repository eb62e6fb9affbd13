"""The wavefront: the conditioner cache, growing row buffers and pooled buffers change nothing;
sources."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import moving_positions, speech_like

from binauralgrad.dsp import geometric_warp
from binauralgrad.inference.buffers import BufferPool
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.sources import StreamInputs, WavefrontSource, Windows
from binauralgrad.inference.wavefront import run_wavefront
from binauralgrad.inputs import prepare_inputs


def moving_scene(tiny):
    """The tiny pipeline's folded stages, steps, 2000 samples of a moving talker and its noise."""
    inputs = prepare_inputs(speech_like(2000), moving_positions(5))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], 2000)
    models = [FoldedDenoiser(stage) for stage in (tiny.stage_one, tiny.stage_two)]
    return models, tiny.schedule.sampling_steps("fast"), windows, PositionalNoise(7)


def test_without_the_conditioner_cache_the_audio_is_the_same(tiny):
    models, steps, windows, noise = moving_scene(tiny)
    cached = run_wavefront(*models, steps, windows, noise, tile=300, cache=True)
    recomputed = run_wavefront(*models, steps, windows, noise, tile=300, cache=False)
    assert all(torch.equal(a, b) for a, b in zip(cached, recomputed, strict=True))


def test_row_buffers_that_grow_on_every_need_give_the_same_audio(tiny, monkeypatch):
    models, steps, windows, noise = moving_scene(tiny)
    roomy = run_wavefront(*models, steps, windows, noise, tile=300)

    workspace = FoldedDenoiser.workspace

    def cramped(self, batch, capacity, *allocator):
        work = workspace(self, batch, capacity, *allocator)
        work.layer_rows = [rows[:, :1] for rows in work.layer_rows]  # grown on every need
        return work

    monkeypatch.setattr(FoldedDenoiser, "workspace", cramped)
    copied = run_wavefront(*models, steps, windows, noise, tile=300)
    assert all(torch.equal(a, b) for a, b in zip(roomy, copied, strict=True))


@pytest.mark.parametrize("cache", [True, False])
def test_buffers_kept_from_an_earlier_run_give_the_same_audio_whatever_they_hold(tiny, cache):
    models, steps, windows, noise = moving_scene(tiny)
    fresh = run_wavefront(*models, steps, windows, noise, tile=300, cache=cache)
    pool = BufferPool()
    with pool.lease() as allocator:
        run_wavefront(*models, steps, windows, noise, tile=300, cache=cache, allocator=allocator)
        kept = list(allocator.taken)
    assert pool.nbytes > 0
    for tensor in kept:  # a row read before it is written would now show
        tensor.fill_(float("nan"))
    with pool.lease() as allocator:
        again = run_wavefront(*models, steps, windows, noise, tile=300, cache=cache,
                              allocator=allocator)
        assert {tensor.data_ptr() for tensor in allocator.taken} == \
            {tensor.data_ptr() for tensor in kept}
    assert all(torch.equal(a, b) for a, b in zip(fresh, again, strict=True))


def test_a_pool_hands_a_buffer_to_one_lease_and_keeps_what_the_last_one_used():
    like, pool = torch.empty(0), BufferPool()
    with pool.lease() as first:
        a, b = first.empty((2, 3), like), first.empty((4,), like)
    with pool.lease() as outer, pool.lease() as inner:
        taken = [outer.empty((2, 3), like), inner.empty((2, 3), like)]
        assert taken[0] is a and taken[1] is not a  # not shared while leased
    assert pool.nbytes == 6 * 4  # the last lease to end: its buffer, not the unused (4,) one
    with pool.lease() as again:
        assert again.empty((4,), like) is not b
        assert pool.nbytes == 0  # a shape it did not hold: the (2, 3) one is let go at once
    assert copy.deepcopy(pool).nbytes == 0
    pool.clear()
    assert pool.nbytes == 0


def test_windows_read_zeros_outside_themselves():
    full = torch.arange(20.0).reshape(1, 1, 20)
    windows = Windows(full.expand(1, 2, 20), full, torch.ones(1, 7, 1), [0], [5], 10)
    assert windows.gather(full, -2, 3).tolist() == [[[0, 0, 5, 6, 7]]]
    assert windows.gather(full, 8, 12).tolist() == [[[13, 14, 0, 0]]]


def test_whole_windows_and_a_streams_inputs_are_wavefront_sources(tiny):
    inputs = prepare_inputs(speech_like(800), moving_positions(2))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], 800)
    configs = [tiny.stage_one.config, tiny.stage_two.config]
    first, second = (StreamInputs(configs, device=torch.device("cpu")) for _ in range(2))
    assert all(isinstance(source, WavefrontSource) for source in (windows, first, second))
    assert windows.ended and not first.ended and first.encoder_end == first.prior_end == 0
    first.push(speech_like(800), moving_positions(2))
    assert first.encoder_end == 800 and second.encoder_end == 0  # no state shared by class
