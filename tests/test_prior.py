"""The diffusion prior: its means per stage, encode/decode, and a pipeline that samples with it."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, randomize, speech_like, static_positions

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad import prior as priors


def test_warp_prior_means_follow_the_stage():
    warped, mean = torch.randn(2, 2, 50), torch.randn(2, 1, 50)
    assert priors.prior_mean("zero", 1, warped) is None
    torch.testing.assert_close(priors.prior_mean("warp", 1, warped), warped.mean(1, keepdim=True))
    second = priors.prior_mean("warp", 2, warped, mean)
    # Stage two's prior keeps the warp's interaural difference and has the given mean.
    torch.testing.assert_close(second.mean(1, keepdim=True), mean)
    torch.testing.assert_close(second[:, :1] - second[:, 1:], warped[:, :1] - warped[:, 1:])
    with pytest.raises(ValueError, match="needs the mean"):
        priors.prior_mean("warp", 2, warped)
    with pytest.raises(ValueError, match="prior must be one of"):
        priors.prior_mean("gaussian", 1, warped)


def test_encode_and_decode_are_inverse():
    signal, mu = torch.randn(1, 2, 30), torch.randn(1, 2, 30)
    latent = priors.encode(signal, mu, 0.05)
    torch.testing.assert_close(priors.decode(latent, mu, 0.05), signal)
    assert torch.equal(priors.decode(priors.encode(signal, None, 1.0), None, 1.0), signal)


@pytest.mark.parametrize("kwargs,match", [({"prior": "gauss"}, "prior must be one of"),
                                          ({"prior_scale": 0.0}, "prior_scale"),
                                          ({"prior_scale": True}, "prior_scale")])
def test_config_refuses_bad_priors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DenoiserConfig(**kwargs)


def warp_prior_pipeline(scale: float = 0.05) -> BinauralGradPipeline:
    sizes = {**TINY, "prior": "warp", "prior_scale": scale}
    return BinauralGradPipeline(
        randomize(BinauralDenoiser(DenoiserConfig.stage_one(**sizes)), 5, scale=0.05),
        randomize(BinauralDenoiser(DenoiserConfig.stage_two(**sizes)), 6, scale=0.05))


def synthesize(pipeline, **options):
    mono, positions = speech_like(2345), static_positions(6)
    return pipeline(mono, positions, generator=torch.Generator().manual_seed(1), progress=False,
                    **options)


def test_the_fast_path_samples_a_prior_as_the_reference_does():
    pipeline = warp_prior_pipeline()
    reference, fast = synthesize(pipeline, implementation="reference"), synthesize(pipeline)
    assert (fast.audio - reference.audio).abs().max() < 1e-4
    assert (fast.mean - reference.mean).abs().max() < 1e-4


def test_a_small_prior_scale_keeps_the_output_near_the_warp():
    out = synthesize(warp_prior_pipeline(scale=1e-3))
    # Whatever the (random) model does, it moves the signal by about the scale only.
    assert (out.mean - out.warped.mean(0, keepdim=True)).abs().max() < 0.05
    assert (out.audio - out.warped).abs().max() < 0.1


def test_save_and_load_keep_the_prior(tmp_path):
    pipeline = warp_prior_pipeline()
    loaded = BinauralGradPipeline.from_pretrained(pipeline.save_pretrained(tmp_path / "p"))
    assert loaded.stage_two.config.prior == "warp"
    assert torch.equal(synthesize(loaded).audio, synthesize(pipeline).audio)


def test_temperature_scales_the_sampling_noise_on_both_paths():
    from binauralgrad import NoiseSchedule

    pipeline = warp_prior_pipeline()
    pipeline.schedule = NoiseSchedule(temperature=0.5)
    reference, fast = synthesize(pipeline, implementation="reference"), synthesize(pipeline)
    assert (fast.audio - reference.audio).abs().max() < 1e-4
    pipeline.schedule = NoiseSchedule(temperature=0.0)
    first = synthesize(pipeline)
    other = pipeline(speech_like(2345), static_positions(6), progress=False,
                     generator=torch.Generator().manual_seed(99))
    assert torch.equal(first.audio, other.audio)  # no noise at all: one answer
    with pytest.raises(ValueError, match="temperature"):
        NoiseSchedule(temperature=1.5)
