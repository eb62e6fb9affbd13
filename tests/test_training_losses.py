"""Tests of the training loss: parity with the original's terms, gradients and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from binauralgrad.io.original import load_original_denoiser
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training.losses import IMPLIED_ALPHA_BAR_FLOOR, LossTerms, diffusion_loss

FIXTURES = Path(__file__).parent / "fixtures"
STAGES = {1: "one", 2: "two"}


def _fixture_batch(stage: int) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    arrays = np.load(FIXTURES / f"loss_stage_{STAGES[stage]}_small.npz")
    batch = {
        "binaural": torch.from_numpy(arrays["binaural"]),
        "mean": torch.from_numpy(arrays["mean"]),
        "warped": torch.from_numpy(arrays["geowarp"]),
        "mono": torch.from_numpy(arrays["mono"]),
        # The fixture stores positions (B, K, 7); the denoiser takes (B, 7, K).
        "positions": torch.from_numpy(arrays["positions"]).transpose(1, 2).contiguous(),
    }
    return batch, torch.from_numpy(arrays["timesteps"]), torch.from_numpy(arrays["noise"])


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURES / "loss_small.json").read_text())


@pytest.mark.parametrize("stage", [1, 2])
def test_loss_matches_original_terms(stage, expected):
    model, params = load_original_denoiser(FIXTURES / f"original_stage_{STAGES[stage]}_small.pt",
                                           stage)
    batch, timesteps, noise = _fixture_batch(stage)
    reference = expected[f"stage_{STAGES[stage]}"]
    with torch.no_grad():
        terms = diffusion_loss(model, batch, timesteps, noise, NoiseSchedule(), stage=stage,
                               lambda_phase=reference["lambda_phase"])
    for name, value in (("mse_main", terms.mse_main), ("mse_aux", terms.mse_aux),
                        ("phase_aux", terms.phase_aux), ("total", terms.total)):
        assert float(value) == pytest.approx(reference[name], rel=1e-5), name


def test_loss_gradients_reach_every_parameter():
    model, _ = load_original_denoiser(FIXTURES / "original_stage_two_small.pt", 2)
    batch, timesteps, noise = _fixture_batch(2)
    terms = diffusion_loss(model.train(), batch, timesteps, noise, NoiseSchedule(), stage=2)
    terms.total.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert any(float(parameter.grad.abs().sum()) > 0 for parameter in model.parameters())


def test_phase_term_weight_and_zero_weight():
    model, _ = load_original_denoiser(FIXTURES / "original_stage_one_small.pt", 1)
    batch, timesteps, noise = _fixture_batch(1)
    with torch.no_grad():
        without = diffusion_loss(model, batch, timesteps, noise, NoiseSchedule(), stage=1,
                                 lambda_phase=0.0)
        weighted = diffusion_loss(model, batch, timesteps, noise, NoiseSchedule(), stage=1,
                                  lambda_phase=1.0)
    assert float(without.phase_aux) == 0.0
    assert float(without.total) == pytest.approx(float(without.mse_main + without.mse_aux))
    assert float(weighted.total) == pytest.approx(
        float(weighted.mse_main + weighted.mse_aux + weighted.phase_aux), rel=1e-6)


def test_log_keys():
    terms = LossTerms(*(torch.tensor(float(value)) for value in range(7)))
    assert terms.as_floats() == {"train/loss": 0.0, "train/mse_main": 1.0,
                                 "train/mse_aux": 2.0, "train/phase_aux": 3.0,
                                 "train/clean_main": 4.0, "train/mrstft_main": 5.0,
                                 "train/head_fit": 6.0}
    assert terms.stacked().shape == (7,)
    unweighted = LossTerms(*(torch.tensor(float(value)) for value in range(4)))
    assert unweighted.as_floats()["train/clean_main"] == 0.0
    assert unweighted.as_floats()["train/head_fit"] == 0.0


def test_clean_terms_score_the_clean_signal_the_noise_prediction_implies():
    model, _ = load_original_denoiser(FIXTURES / "original_stage_one_small.pt", 1)
    batch, timesteps, noise = _fixture_batch(1)
    schedule = NoiseSchedule()
    with torch.no_grad():
        plain = diffusion_loss(model, batch, timesteps, noise, schedule, stage=1)
        both = diffusion_loss(model, batch, timesteps, noise, schedule, stage=1,
                              lambda_clean=2.0, lambda_mrstft=0.5)
        prediction = model(schedule.add_noise(batch["mean"], noise, timesteps), timesteps,
                           warped=batch["warped"], mono=batch["mono"],
                           positions=batch["positions"]).sample
    alpha_bar = schedule.alpha_bars(timesteps).view(-1, 1, 1)
    floored = alpha_bar.clamp(min=IMPLIED_ALPHA_BAR_FLOOR)
    # The implied clean latent's error is the noise error scaled by sqrt((1 - a) / a).
    expected = torch.mean((1 - alpha_bar) / floored * (prediction - noise) ** 2)
    assert float(both.clean_main) == pytest.approx(float(expected), rel=1e-4)
    assert float(plain.clean_main) == 0.0 and float(plain.mrstft_main) == 0.0
    assert float(both.mrstft_main) > 0.0
    assert float(both.total) == pytest.approx(
        float(plain.total + 2.0 * both.clean_main + 0.5 * both.mrstft_main), rel=1e-5)


def test_noise_of_the_wrong_shape_is_refused():
    model, _ = load_original_denoiser(FIXTURES / "original_stage_one_small.pt", 1)
    batch, timesteps, noise = _fixture_batch(1)
    with pytest.raises(ValueError, match="noise must match"):
        diffusion_loss(model, batch, timesteps, noise.repeat(1, 2, 1), NoiseSchedule(), stage=1)
    with pytest.raises(ValueError, match="stage must be 1 or 2"):
        diffusion_loss(model, batch, timesteps, noise, NoiseSchedule(), stage=3)
