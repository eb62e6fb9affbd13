"""The folded denoiser is BinauralDenoiser's function: one pass, and sampling with every prior."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import moving_positions, speech_like, synthesize_moving
from torch.nn import functional as F

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.dsp import geometric_warp
from binauralgrad.inference.folded import FoldedDenoiser, with_one
from binauralgrad.training.config import MODEL_SIZES

# Every size preset; the larger ones take more than a few seconds on a CPU.
SIZES = [pytest.param(name, marks=() if name == "tiny" else pytest.mark.slow)
         for name in MODEL_SIZES]
PRIORS = {"signal": {}, "warp": {"prior": "warp"}, "attenuated_warp": {"prior": "attenuated_warp"},
          "warp_envelope": {"prior": "warp", "prior_std": "envelope", "prior_scale": 0.5}}


def random_denoiser(config: DenoiserConfig, seed: int) -> BinauralDenoiser:
    """A denoiser with random weights of about unit gain per layer (the trained output layer
    starts at zero, which would hide errors; a larger scale would overflow a 30-layer stack)."""
    denoiser = BinauralDenoiser(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in denoiser.parameters():
            fan_in = parameter[0].numel() if parameter.dim() > 1 else 100
            parameter.copy_(torch.randn(parameter.shape, generator=generator) / math.sqrt(fan_in))
    return denoiser.eval()


def folded_pass(model: FoldedDenoiser, noisy: torch.Tensor, timestep: torch.Tensor,
                audio: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """One pass of the folded model over a whole window, in one tile: (B, C, T) -> (B, C, T)."""
    reach, length = model.config.encoder_reach, noisy.shape[-1]
    condition = model.encode(F.pad(audio, (reach, reach)), F.pad(view, (reach, reach)), 0, length)
    biases = model.step_biases(timestep)
    rows = model.input_rows(noisy.transpose(1, 2))
    work = model.workspace(noisy.shape[0], length)
    for index, dilation in enumerate(model.dilations):
        padded = F.pad(rows, (0, 0, dilation, dilation))  # the zeros beyond the window
        projected = model.project_condition(condition, index, biases[index].bias)
        # The wavefront's spelling: the bias as one more input channel of ones, in the
        # workspace's pre-activation rows (which the layer's gate reads).
        preactivation = work.y[:, :length]
        model.preactivation_into(preactivation, with_one(condition), biases[index])
        torch.testing.assert_close(preactivation, projected, rtol=1e-5, atol=1e-6)
        rows = model.layer(index, padded, preactivation, biases[index], 0, length, work)
    return model.head(rows).transpose(1, 2)


def assert_close_to(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # Float32 rounding through a deep stack, relative to the signal's scale.
    tolerance = 1e-4 * (1.0 + expected.abs().max().item())
    assert (actual - expected).abs().max().item() <= tolerance


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stage", [1, 2])
def test_one_folded_pass_is_the_denoisers_function(size, stage):
    preset = DenoiserConfig.stage_one if stage == 1 else DenoiserConfig.stage_two
    denoiser = random_denoiser(preset(**MODEL_SIZES[size]), seed=stage)
    length = 3 * FRAME_SAMPLES
    mono = torch.from_numpy(speech_like(length))[None, None]
    positions = torch.from_numpy(moving_positions(3)).T[None].contiguous()
    conditions = {"warped": geometric_warp(mono, positions), "mono": mono,
                  "positions": positions}
    if stage == 2:
        conditions["mean"] = conditions["warped"].mean(1, keepdim=True)
    generator = torch.Generator().manual_seed(stage)
    noisy = torch.randn(1, stage, length, generator=generator)
    timestep = torch.tensor([12.3])
    with torch.no_grad():
        expected = denoiser.denoise(noisy, timestep, denoiser.encode_condition(**conditions),
                                    return_aux=False).sample
        audio = torch.cat([conditions[name] for name in ("warped", "mono", "mean")
                           if name in conditions], dim=1)
        view = positions.repeat_interleave(FRAME_SAMPLES, dim=-1)
        folded = folded_pass(FoldedDenoiser(denoiser), noisy, timestep, audio, view)
    assert_close_to(folded, expected)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("prior", PRIORS.values(), ids=PRIORS)
def test_the_wavefront_samples_both_stages_as_the_reference(size, prior):
    sizes = {**MODEL_SIZES[size], **prior}
    pipeline = BinauralGradPipeline(random_denoiser(DenoiserConfig.stage_one(**sizes), 1),
                                    random_denoiser(DenoiserConfig.stage_two(**sizes), 2))
    reference = synthesize_moving(pipeline, 1600, implementation="reference")
    fast = synthesize_moving(pipeline, 1600)
    assert_close_to(fast.mean, reference.mean)  # stage one
    assert_close_to(fast.audio, reference.audio)  # stage two


@pytest.mark.parametrize("width", [16, 32])
def test_a_layers_bits_do_not_depend_on_the_thread_count(width):
    """A stream's pushes run on one thread, the offline path on all: over an odd number of rows
    that several threads split, each thread's share ends on a whole row."""
    config = DenoiserConfig.stage_one(residual_layers=2, residual_channels=width,
                                      dilation_cycle_length=2)
    model = FoldedDenoiser(random_denoiser(config, 0))
    dilation, biases = model.dilations[1], model.step_biases(torch.tensor([3]))[1]
    generator = torch.Generator().manual_seed(1)
    threads = torch.get_num_threads()
    try:
        for count in (4095, 4093, 3999):
            rows = torch.randn(1, count + 2 * dilation, 2 * width, generator=generator)
            preactivation = 4 * torch.randn(1, count, 2 * width, generator=generator)
            outputs = []
            for number in range(1, 8):
                torch.set_num_threads(number)
                work = model.workspace(1, count)
                work.y[:, :count] = preactivation
                outputs.append(model.layer(1, rows.clone(), work.y[:, :count], biases, 1000,
                                           10**6, work))
            assert all(torch.equal(outputs[0], other) for other in outputs[1:]), count
    finally:
        torch.set_num_threads(threads)
