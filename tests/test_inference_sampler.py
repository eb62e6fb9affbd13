"""The wavefront path through the pipeline: equal to the reference, tile- and chunk-exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import (
    make_tiny_pipeline,
    moving_positions,
    speech_like,
    static_positions,
    synthesize_moving,
)

from binauralgrad import BinauralGradPipeline
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.inference.backends import cpu_bf16_supported

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

@pytest.mark.parametrize("length", [3000, 2345])
def test_fast_path_equals_the_reference_on_the_same_noise(tiny, length):
    reference = synthesize_moving(tiny, length, implementation="reference")
    fast = synthesize_moving(tiny, length)
    assert (fast.audio - reference.audio).abs().max() < 1e-4
    assert (fast.mean - reference.mean).abs().max() < 1e-4
    assert torch.equal(fast.warped, reference.warped)


def test_fast_path_matches_the_original_checkpoints(original_denoisers):
    pipeline = BinauralGradPipeline(original_denoisers[1], original_denoisers[2])
    reference = synthesize_moving(pipeline, 2400, implementation="reference")
    fast = synthesize_moving(pipeline, 2400)
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
    reference = synthesize_moving(tiny, 800, steps="full", implementation="reference")
    fast = synthesize_moving(tiny, 800, steps="full")
    assert (fast.audio - reference.audio).abs().max() < 1e-4


def test_same_seed_same_audio_and_seeds_differ(tiny, unchunked):
    assert torch.equal(synthesize_moving(tiny, 6000).audio, unchunked.audio)
    assert not torch.allclose(synthesize_moving(tiny, 6000, seed=1).audio, unchunked.audio)


@pytest.mark.parametrize("tile_samples", [37, 500])
def test_any_tile_gives_the_same_audio_bit_for_bit(tiny, unchunked, tile_samples):
    tiled = synthesize_moving(tiny, 6000, tile_seconds=tile_samples / SAMPLE_RATE)
    assert torch.equal(tiled.audio, unchunked.audio)
    assert torch.equal(tiled.mean, unchunked.mean)


def test_chunks_with_full_overlap_equal_the_unchunked_output(tiny, unchunked):
    overlap_s = tiny.receptive_field_seconds() + 0.002  # the receptive field + half the fade
    chunked = synthesize_moving(tiny, 6000, chunk_seconds=0.02, overlap_seconds=overlap_s,
                                crossfade_seconds=0.004)
    assert torch.equal(chunked.audio, unchunked.audio)
    assert torch.equal(chunked.mean, unchunked.mean)


def test_chunks_at_the_default_overlap_and_a_short_one(tiny, unchunked):
    # The tiny model's receptive field (78 samples) is inside the default overlap: exact.
    default = synthesize_moving(tiny, 6000, chunk_seconds=0.02)
    assert torch.equal(default.audio, unchunked.audio)
    # 5 samples, a sixteenth of the receptive field: close, not equal (measured: 1.6e-3).
    short = synthesize_moving(tiny, 6000, chunk_seconds=0.02, overlap_seconds=5 / SAMPLE_RATE,
                              crossfade_seconds=5 / SAMPLE_RATE)
    deviation = (short.audio - unchunked.audio).abs().max().item()
    assert 0 < deviation < 1e-2
    # No overlap at all leaves seams.
    seams = synthesize_moving(tiny, 6000, chunk_seconds=0.02, overlap_seconds=0.0,
                              crossfade_seconds=0.0)
    assert (seams.audio - unchunked.audio).abs().max() > deviation


@pytest.mark.skipif(not cpu_bf16_supported(), reason="this CPU has no native bfloat16")
def test_bfloat16_on_cpu_stays_close_to_float32(tiny, unchunked):
    half = synthesize_moving(tiny, 6000, dtype=torch.bfloat16)
    deviation = (half.audio - unchunked.audio).abs()
    assert deviation.max() < 0.25 and deviation.mean() < 0.02


def test_half_precision_a_cpu_cannot_run_falls_back_to_float32(tiny, unchunked):
    with pytest.warns(UserWarning, match="computing in float32"):
        half = synthesize_moving(tiny, 6000, dtype=torch.float16)
    assert torch.equal(half.audio, unchunked.audio)


@pytest.mark.parametrize("options,match", [
    ({"implementation": "quick"}, "implementation"), ({"tile_seconds": 0}, "tile_seconds"),
    ({"chunk_seconds": -1.0}, "chunk_seconds"), ({"overlap_seconds": -0.1}, "overlap"),
    ({"max_memory_mb": 1e-4, "chunk_seconds": 0.01}, "below the least"),
    ({"dtype": torch.int32}, "dtype"),
])
def test_bad_options_are_clear_errors(tiny, options, match):
    with pytest.raises(ValueError, match=match):
        synthesize_moving(tiny, 800, **options)


def test_compile_is_deprecated_and_changes_nothing(tiny, unchunked):
    with pytest.warns(DeprecationWarning, match="compile"):
        out = synthesize_moving(tiny, 6000, compile=True)
    assert torch.equal(out.audio, unchunked.audio)


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-4), (torch.bfloat16, 0.25),
                                             (torch.float16, 0.1)])
def test_gpu_fast_path_against_the_cpu_reference(tiny, dtype, tolerance):
    reference = synthesize_moving(tiny, 6000, implementation="reference")
    gpu = make_tiny_pipeline(3).to("cuda")
    out = synthesize_moving(gpu, 6000, dtype=dtype)
    assert out.audio.device.type == "cuda"
    assert (out.audio.cpu() - reference.audio).abs().max() < tolerance


@cuda
@pytest.mark.gpu
def test_gpu_chunks_run(tiny):
    gpu = make_tiny_pipeline(3).to("cuda")
    plain = synthesize_moving(gpu, 6000)
    chunked = synthesize_moving(gpu, 6000, chunk_seconds=0.02, max_memory_mb=256)
    assert (chunked.audio - plain.audio).abs().max() < 1e-4
