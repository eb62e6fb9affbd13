"""The fast sampling path: equal to the reference, tile- and chunk-exact, noise, budgets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import make_tiny_pipeline, speech_like, static_positions

from binauralgrad import BinauralGradPipeline
from binauralgrad.chunking import FastOptions
from binauralgrad.dsp import geometric_warp
from binauralgrad.inputs import prepare_inputs
from binauralgrad.models.fast import FastDenoiser, Workspace, cpu_bf16_supported
from binauralgrad.sampling import PositionalNoise
from binauralgrad.streaming import Windows, run_wavefront

SAMPLE_RATE = 48000
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def moving_positions(frames: int) -> np.ndarray:
    positions = static_positions(frames)
    positions[:, 0] += np.linspace(0.0, 1.5, frames)  # a walking talker: the warp changes
    positions[:, 1] -= np.linspace(0.0, 1.0, frames)
    return positions


def run(pipeline, length: int, seed: int = 0, **options):
    mono, positions = speech_like(length, seed), moving_positions(-(-length // 400))
    return pipeline(mono, positions, generator=torch.Generator().manual_seed(seed),
                    progress=False, **options)


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_pipeline(3)


@pytest.fixture(scope="module")
def unchunked(tiny):
    return run(tiny, 6000)


@pytest.mark.parametrize("length", [3000, 2345])
def test_fast_path_equals_the_reference_on_the_same_noise(tiny, length):
    reference = run(tiny, length, implementation="reference")
    fast = run(tiny, length)
    assert (fast.audio - reference.audio).abs().max() < 1e-4
    assert (fast.mean - reference.mean).abs().max() < 1e-4
    assert torch.equal(fast.warped, reference.warped)


def test_fast_path_matches_the_original_checkpoints(original_denoisers):
    pipeline = BinauralGradPipeline(original_denoisers[1], original_denoisers[2])
    reference = run(pipeline, 2400, implementation="reference")
    fast = run(pipeline, 2400)
    torch.testing.assert_close(fast.audio, reference.audio, atol=1e-5, rtol=0)


def test_batched_fast_path_equals_each_signal_alone(tiny):
    mono = np.stack([speech_like(1600, seed) for seed in range(2)])
    positions = np.stack([moving_positions(4), static_positions(4, (0.5, -1.0, 0.2))])
    out = tiny(mono, positions, generator=torch.Generator().manual_seed(5), progress=False)
    reference = tiny(mono, positions, generator=torch.Generator().manual_seed(5),
                     progress=False, implementation="reference")
    assert out.audio.shape == (2, 2, 1600)
    assert (out.audio - reference.audio).abs().max() < 1e-4


def test_full_schedule_fast_path_equals_the_reference(tiny):
    reference = run(tiny, 800, steps="full", implementation="reference")
    fast = run(tiny, 800, steps="full")
    assert (fast.audio - reference.audio).abs().max() < 1e-4


def test_same_seed_same_audio_and_seeds_differ(tiny, unchunked):
    assert torch.equal(run(tiny, 6000).audio, unchunked.audio)
    assert not torch.allclose(run(tiny, 6000, seed=1).audio, unchunked.audio)


@pytest.mark.parametrize("tile_samples", [37, 500])
def test_any_tile_gives_the_same_audio_bit_for_bit(tiny, unchunked, tile_samples):
    tiled = run(tiny, 6000, tile_seconds=tile_samples / SAMPLE_RATE)
    assert torch.equal(tiled.audio, unchunked.audio)
    assert torch.equal(tiled.mean, unchunked.mean)


def test_chunks_with_full_overlap_equal_the_unchunked_output(tiny, unchunked):
    overlap_s = tiny.receptive_field_seconds() + 0.002  # the receptive field + half the fade
    chunked = run(tiny, 6000, chunk_seconds=0.02, overlap_seconds=overlap_s,
                  crossfade_seconds=0.004)
    assert torch.equal(chunked.audio, unchunked.audio)
    assert torch.equal(chunked.mean, unchunked.mean)


def test_chunks_at_the_default_overlap_and_a_short_one(tiny, unchunked):
    # The tiny model's receptive field (78 samples) is inside the default overlap: exact.
    default = run(tiny, 6000, chunk_seconds=0.02)
    assert torch.equal(default.audio, unchunked.audio)
    # 5 samples, a sixteenth of the receptive field: close, not equal (measured: 1.6e-3).
    short = run(tiny, 6000, chunk_seconds=0.02, overlap_seconds=5 / SAMPLE_RATE,
                crossfade_seconds=5 / SAMPLE_RATE)
    deviation = (short.audio - unchunked.audio).abs().max().item()
    assert 0 < deviation < 1e-2
    # No overlap at all leaves seams.
    seams = run(tiny, 6000, chunk_seconds=0.02, overlap_seconds=0.0, crossfade_seconds=0.0)
    assert (seams.audio - unchunked.audio).abs().max() > deviation


def test_memory_budget_sets_windows_per_batch_and_keeps_the_audio(tiny, unchunked):
    models = [FastDenoiser(stage) for stage in (tiny.stage_one, tiny.stage_two)]
    one_window = FastOptions(max_memory_mb=None).schedule(models, 6, 960, 8)
    assert one_window == (960, True, 1)
    roomy = FastOptions(max_memory_mb=64).schedule(models, 6, 960, 8)
    tight = FastOptions(max_memory_mb=2).schedule(models, 6, 960, 8)
    assert roomy == (960, True, 8) and tight[0] < 960 and tight[2] == 1
    overlap_s = tiny.receptive_field_seconds() + 0.002
    budgeted = run(tiny, 6000, chunk_seconds=0.02, overlap_seconds=overlap_s,
                   crossfade_seconds=0.004, max_memory_mb=2)
    assert torch.equal(budgeted.audio, unchunked.audio)


def test_without_the_conditioner_cache_the_audio_is_the_same(tiny):
    inputs = prepare_inputs(speech_like(2000), moving_positions(5))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], 2000)
    models = [FastDenoiser(stage) for stage in (tiny.stage_one, tiny.stage_two)]
    steps, noise = tiny.schedule.sampling_steps(True), PositionalNoise(7)
    cached = run_wavefront(*models, steps, windows, noise, tile=300, cache=True)
    recomputed = run_wavefront(*models, steps, windows, noise, tile=300, cache=False)
    assert all(torch.equal(a, b) for a, b in zip(cached, recomputed, strict=True))


def test_a_layer_chain_without_room_copies_and_grows_to_the_same_audio(tiny, monkeypatch):
    inputs = prepare_inputs(speech_like(2000), moving_positions(5))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], 2000)
    models = [FastDenoiser(stage) for stage in (tiny.stage_one, tiny.stage_two)]
    steps, noise = tiny.schedule.sampling_steps(True), PositionalNoise(7)
    roomy = run_wavefront(*models, steps, windows, noise, tile=300)

    def cramped(self, batch, capacity):
        work = Workspace(self, batch, capacity)
        work.front, work.chain = 0, work.chain[:, :1]  # no room below, grown on every need
        return work

    monkeypatch.setattr(FastDenoiser, "workspace", cramped)
    copied = run_wavefront(*models, steps, windows, noise, tile=300)
    assert all(torch.equal(a, b) for a, b in zip(roomy, copied, strict=True))


def test_both_backends_agree(tiny):
    inputs = prepare_inputs(speech_like(1200), moving_positions(3))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], 1200)
    steps, noise = tiny.schedule.sampling_steps(True), PositionalNoise(7)
    outputs = [run_wavefront(*(FastDenoiser(stage, backend=backend)
                               for stage in (tiny.stage_one, tiny.stage_two)),
                             steps, windows, noise, tile=256)[1]
               for backend in ("matmul", "auto")]
    assert (outputs[0] - outputs[1]).abs().max() < 1e-5


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


def test_windows_read_zeros_outside_themselves():
    full = torch.arange(20.0).reshape(1, 1, 20)
    windows = Windows(full.expand(1, 2, 20), full, torch.ones(1, 7, 1), [0], [5], 10)
    assert windows.gather(full, -2, 3).tolist() == [[[0, 0, 5, 6, 7]]]
    assert windows.gather(full, 8, 12).tolist() == [[[13, 14, 0, 0]]]


@pytest.mark.skipif(not cpu_bf16_supported(), reason="this CPU has no native bfloat16")
def test_bfloat16_on_cpu_stays_close_to_float32(tiny, unchunked):
    half = run(tiny, 6000, dtype=torch.bfloat16)
    deviation = (half.audio - unchunked.audio).abs()
    assert deviation.max() < 0.25 and deviation.mean() < 0.02


def test_half_precision_a_cpu_cannot_run_falls_back_to_float32(tiny, unchunked):
    with pytest.warns(UserWarning, match="computing in float32"):
        half = run(tiny, 6000, dtype=torch.float16)
    assert torch.equal(half.audio, unchunked.audio)


@pytest.mark.parametrize("options,match", [
    ({"implementation": "quick"}, "implementation"), ({"tile_seconds": 0}, "tile_seconds"),
    ({"chunk_seconds": -1.0}, "chunk_seconds"), ({"overlap_seconds": -0.1}, "overlap"),
    ({"max_memory_mb": 1e-4, "chunk_seconds": 0.01}, "below the least"),
    ({"dtype": torch.int32}, "dtype"),
])
def test_bad_options_are_clear_errors(tiny, options, match):
    with pytest.raises(ValueError, match=match):
        run(tiny, 800, **options)


@pytest.mark.slow
def test_compiled_gate_gives_the_same_audio_up_to_rounding(tiny, unchunked):
    compiled = run(tiny, 6000, compile=True)
    assert (compiled.audio - unchunked.audio).abs().max() < 1e-5


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-4), (torch.bfloat16, 0.25),
                                             (torch.float16, 0.1)])
def test_gpu_fast_path_against_the_cpu_reference(tiny, dtype, tolerance):
    reference = run(tiny, 6000, implementation="reference")
    gpu = make_tiny_pipeline(3).to("cuda")
    out = run(gpu, 6000, dtype=dtype)
    assert out.audio.device.type == "cuda"
    assert (out.audio.cpu() - reference.audio).abs().max() < tolerance


@cuda
@pytest.mark.gpu
def test_gpu_chunks_and_compile_run(tiny):
    gpu = make_tiny_pipeline(3).to("cuda")
    plain = run(gpu, 6000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = run(gpu, 6000, compile=True, dtype=torch.bfloat16)
    chunked = run(gpu, 6000, chunk_seconds=0.02, max_memory_mb=256)
    assert torch.isfinite(compiled.audio).all()
    assert (chunked.audio - plain.audio).abs().max() < 1e-4


def test_unusable_onednn_ops_fall_back_to_matmul_with_a_warning(tiny, monkeypatch):
    from binauralgrad.models import fast

    if not fast.mkldnn_ops_available():
        pytest.skip("no oneDNN on this build: the fallback is the only path")

    def broken(*args, **kwargs):
        raise RuntimeError("no such op in this torch")

    monkeypatch.setattr(fast._MkldnnConv, "conv", staticmethod(broken))
    with pytest.warns(RuntimeWarning, match="matmul convolutions"):
        model = FastDenoiser(tiny.stage_one)
    assert model.ops is fast._MatmulConv
    reference = run(tiny, 1200, implementation="reference")
    with pytest.warns(RuntimeWarning):
        fallback = run(tiny, 1200)
    assert (fallback.audio - reference.audio).abs().max() < 1e-4
