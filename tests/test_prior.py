"""The diffusion prior: its means per stage, encode/decode, and a pipeline that samples with it."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY, randomize, speech_like, static_positions

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad import prior as priors
from binauralgrad.prior import PriorConfig


def config(**values) -> DenoiserConfig:
    preset = DenoiserConfig.stage_two if values.pop("stage", 1) == 2 else DenoiserConfig.stage_one
    return preset(**TINY, **values)


def test_warp_prior_means_follow_the_stage():
    warped, mean = torch.randn(2, 2, 800), torch.randn(2, 1, 800)
    assert priors.stage_prior(config(), warped).is_identity
    first = priors.stage_prior(config(prior="warp"), warped)
    torch.testing.assert_close(first.mean, warped.mean(1, keepdim=True))
    second = priors.stage_prior(config(prior="warp", stage=2), warped, mean)
    # Stage two's prior keeps the warp's interaural difference and has the given mean.
    torch.testing.assert_close(second.mean.mean(1, keepdim=True), mean)
    torch.testing.assert_close(second.mean[:, :1] - second.mean[:, 1:],
                               warped[:, :1] - warped[:, 1:])
    with pytest.raises(ValueError, match="needs the mean"):
        priors.stage_prior(config(prior="warp", stage=2), warped)
    with pytest.raises(ValueError, match="needs the mono"):
        priors.stage_prior(config(prior="warp", prior_std="envelope"), warped)


def test_attenuated_warp_prior_scales_each_ear_by_its_spreading():
    warped, mean = torch.randn(1, 2, 800), torch.randn(1, 1, 800)
    spreading = torch.stack([torch.full((800,), 0.5), torch.full((800,), 2.0)])[None]
    first = priors.stage_prior(config(prior="attenuated_warp", prior_gain=0.4), warped,
                               spreading=spreading)
    torch.testing.assert_close(first.mean, 0.4 * (warped * spreading).mean(1, keepdim=True))
    second = priors.stage_prior(config(prior="attenuated_warp", stage=2), warped, mean,
                                spreading=spreading)
    torch.testing.assert_close(second.mean[:, :1] - second.mean[:, 1:],
                               0.5 * warped[:, :1] - 2.0 * warped[:, 1:])
    with pytest.raises(ValueError, match="spreading"):
        priors.stage_prior(config(prior="attenuated_warp"), warped)


def test_the_envelope_follows_the_frames_level_above_a_floor():
    mono = torch.zeros(1, 1, 4000)
    mono[..., 1600:2000] = 0.5 * torch.sign(torch.randn(400))  # one loud frame (RMS 0.5)
    envelope = priors.envelope(mono, 400)
    assert envelope.shape == mono.shape
    assert envelope[0, 0, 1800] == pytest.approx(0.5, rel=1e-2)
    assert envelope[0, 0, 0] == pytest.approx(priors.ENVELOPE_FLOOR)
    assert envelope[0, 0, 1600] == pytest.approx(0.25, rel=0.01)  # halfway between centres
    with pytest.raises(ValueError, match="whole frames"):
        priors.envelope(torch.zeros(1, 1, 401), 400)


def test_encode_and_decode_are_inverse():
    signal, mu, std = torch.randn(1, 2, 30), torch.randn(1, 2, 30), torch.rand(1, 1, 30) + 0.1
    prior = priors.Prior(mu, std)
    torch.testing.assert_close(prior.decode(prior.encode(signal)), signal)
    rows = prior.transposed()
    torch.testing.assert_close(rows.decode(rows.encode(signal.transpose(1, 2))),
                               signal.transpose(1, 2))
    assert torch.equal(priors.Prior().decode(priors.Prior().encode(signal)), signal)


@pytest.mark.parametrize("kwargs,match", [({"prior": "gauss"}, "prior must be one of"),
                                          ({"prior_std": "local"}, "prior_std must be one of"),
                                          ({"prior_scale": 0.0}, "prior_scale"),
                                          ({"prior_scale": True}, "prior_scale")])
def test_config_refuses_bad_priors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DenoiserConfig(**kwargs)


def warp_prior_pipeline(scale: float = 0.05, std: str = "constant",
                        prior: str = "warp") -> BinauralGradPipeline:
    sizes = {**TINY, "prior": prior, "prior_scale": scale, "prior_std": std}
    return BinauralGradPipeline(
        randomize(BinauralDenoiser(DenoiserConfig.stage_one(**sizes)), 5, scale=0.05),
        randomize(BinauralDenoiser(DenoiserConfig.stage_two(**sizes)), 6, scale=0.05))


def synthesize(pipeline, **options):
    mono, positions = speech_like(2345), static_positions(6)
    return pipeline(mono, positions, generator=torch.Generator().manual_seed(1), progress=False,
                    **options)


@pytest.mark.parametrize("std,prior", [("constant", "warp"), ("envelope", "warp"),
                                       ("envelope", "attenuated_warp")])
def test_the_fast_path_samples_a_prior_as_the_reference_does(std, prior):
    pipeline = warp_prior_pipeline(std=std, prior=prior)
    reference, fast = synthesize(pipeline, implementation="reference"), synthesize(pipeline)
    assert (fast.audio - reference.audio).abs().max() < 1e-4
    assert (fast.mean - reference.mean).abs().max() < 1e-4


def test_a_small_prior_scale_keeps_the_output_near_the_warp():
    out = synthesize(warp_prior_pipeline(scale=1e-3))
    # Whatever the (random) model does, it moves the signal by about the scale only.
    assert (out.mean - out.warped.mean(0, keepdim=True)).abs().max() < 0.05
    assert (out.audio - out.warped).abs().max() < 0.1


@pytest.mark.parametrize("prior", ["warp", "attenuated_warp"])
def test_an_envelope_prior_keeps_pauses_quiet_and_chunks_exact(prior):
    pipeline = warp_prior_pipeline(scale=0.5, std="envelope", prior=prior)
    mono = speech_like(4800)
    mono[2400:] = 0.0  # a pause
    positions = static_positions(12)
    out = pipeline(mono, positions, generator=torch.Generator().manual_seed(1), progress=False)
    pause = (out.audio - out.warped)[:, 2800:].abs().max()
    assert pause < 20 * priors.ENVELOPE_FLOOR  # noise scaled by the floor, not by speech
    chunked = pipeline(mono, positions, generator=torch.Generator().manual_seed(1),
                       progress=False, chunk_seconds=0.04, overlap_seconds=0.05,
                       crossfade_seconds=0.0)
    assert (chunked.audio - out.audio).abs().max() < 1e-5


def test_save_and_load_keep_the_prior(tmp_path):
    pipeline = warp_prior_pipeline(std="envelope")
    loaded = BinauralGradPipeline.from_pretrained(pipeline.save_pretrained(tmp_path / "p"))
    assert loaded.stage_two.config.prior == PriorConfig("warp", "envelope", 0.05)
    saved = json.loads((tmp_path / "p" / "stage_two" / "config.json").read_text())
    assert saved["prior"] == {"kind": "warp", "std": "envelope", "scale": 0.05, "gain": 1.0,
                              "head_taps": 0}
    assert torch.equal(synthesize(loaded).audio, synthesize(pipeline).audio)


def test_old_flat_configs_load_unchanged(tmp_path):
    pipeline = warp_prior_pipeline(std="envelope", prior="attenuated_warp")
    folder = pipeline.save_pretrained(tmp_path / "p")
    for stage in ("stage_one", "stage_two"):  # rewrite the configs as older versions saved them
        path = folder / stage / "config.json"
        values = json.loads(path.read_text())
        nested = values.pop("prior")
        values.update({"prior": nested["kind"], **{f"prior_{key}": nested[key]
                                                   for key in ("std", "scale", "gain")}})
        path.write_text(json.dumps(values))
    loaded = BinauralGradPipeline.from_pretrained(folder)
    assert loaded.stage_one.config == pipeline.stage_one.config
    assert BinauralDenoiser.from_pretrained(folder / "stage_two").config == \
        pipeline.stage_two.config  # through the Hub mixin's loader too
    assert torch.equal(synthesize(loaded).audio, synthesize(pipeline).audio)
    with pytest.warns(DeprecationWarning, match="prior.std"):
        assert loaded.stage_one.config.prior_std == "envelope"


def test_training_configs_take_the_prior_flat_or_nested(tmp_path):
    from binauralgrad.training.config import TrainingConfig

    flat = {"stage": 1, "data_dir": "d", "output_dir": "o", "prior": "warp",
            "prior_std": "envelope", "prior_scale": 0.5, "prior_gain": 0.4}
    old = TrainingConfig.from_dict(flat)  # a training_config.json of older versions
    assert old.prior == PriorConfig("warp", "envelope", 0.5, 0.4)
    assert old.denoiser_config().prior is old.prior
    assert TrainingConfig.from_dict(old.to_dict()) == old
    assert old.to_dict()["prior"] == {"kind": "warp", "std": "envelope", "scale": 0.5,
                                      "gain": 0.4, "head_taps": 0}
    with pytest.raises(ValueError, match="unknown prior field"):
        TrainingConfig.from_dict({**flat, "prior": {"kind": "warp", "width": 3}})


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
