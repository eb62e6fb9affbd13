"""NoiseSchedule: the original's betas, fast-step alignment, forward noising and reverse step."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import FIXTURES

from binauralgrad import NoiseSchedule
from binauralgrad.prior import Prior


def test_paper_schedules():
    schedule = NoiseSchedule()
    assert schedule.num_train_steps == 200
    assert schedule.train_betas[0] == pytest.approx(1e-4) and schedule.train_betas[-1] == 0.02
    assert schedule.fast_betas == [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]


def test_fast_timesteps_match_the_original():
    meta = json.loads((FIXTURES / "meta_small.json").read_text())
    for stage in ("one", "two"):
        np.testing.assert_allclose(NoiseSchedule().fast_timesteps(),
                                   meta[f"fast_sampling_steps_stage_{stage}"], rtol=0, atol=1e-12)


def test_sampling_steps_run_from_noisiest_to_clean():
    schedule = NoiseSchedule()
    fast, full = schedule.sampling_steps("fast"), schedule.sampling_steps("full")
    assert [step.index for step in fast] == [5, 4, 3, 2, 1, 0]
    assert len(full) == 200 and full[0].timestep == 199 and full[-1].timestep == 0
    assert fast[-1].sigma == 0 and all(step.sigma > 0 for step in fast[:-1])
    beta, alpha_bar = 0.5, np.prod(1 - np.array(schedule.fast_betas))
    alpha_bar_prev = alpha_bar / (1 - beta)
    assert fast[0].noise_scale == pytest.approx(beta / math.sqrt(1 - alpha_bar))
    assert fast[0].sigma == pytest.approx(math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar) * beta))


def test_add_noise_is_the_forward_process():
    schedule = NoiseSchedule()
    clean, noise = torch.full((2, 1, 8), 0.5), torch.randn(2, 1, 8)
    noisy = schedule.add_noise(clean, noise, torch.tensor([0, 199]))
    alpha_bar = schedule.train_alphas_cumprod[[0, 199]]
    expected = torch.stack([math.sqrt(a) * clean[i] + math.sqrt(1 - a) * noise[i]
                            for i, a in enumerate(alpha_bar)])
    torch.testing.assert_close(noisy, expected)


def test_reverse_step_clamps_and_needs_noise():
    schedule = NoiseSchedule()
    first, last = schedule.sampling_steps()[0], schedule.sampling_steps()[-1]
    sample = torch.full((1, 1, 4), 0.9)
    out = NoiseSchedule.reverse_step(sample, torch.full_like(sample, -100.0), last)
    assert out.max() == 1.0
    with pytest.raises(ValueError, match="adds noise"):
        NoiseSchedule.reverse_step(sample, sample, first)


@pytest.mark.parametrize("kwargs,match", [
    ({"train_betas": []}, "train_betas"),
    ({"fast_betas": [0.1, 1.5]}, "fast_betas"),
    ({"fast_betas": [0.9, 0.9]}, "fast schedule must end"),
])
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(**kwargs)


def test_add_noise_shape_errors():
    with pytest.raises(ValueError, match="timesteps must be"):
        NoiseSchedule().add_noise(torch.zeros(2, 1, 4), torch.zeros(2, 1, 4), torch.tensor([1]))


def test_continuous_steps_give_back_the_fast_levels():
    schedule = NoiseSchedule()
    levels = schedule.alpha_bars(torch.tensor(schedule.fast_timesteps(), dtype=torch.float64))
    torch.testing.assert_close(levels.double(), torch.from_numpy(schedule.fast_alphas_cumprod),
                               atol=1e-7, rtol=0)
    integers = schedule.alpha_bars(torch.tensor([0, 17, 199]))
    assert torch.equal(integers, torch.tensor(schedule.train_alphas_cumprod[[0, 17, 199]],
                                              dtype=torch.float32))
    with pytest.raises(ValueError, match="timesteps must lie"):
        schedule.alpha_bars(torch.tensor([199.5]))


def test_reverse_step_clamps_the_signal_that_a_latent_stands_for():
    last = NoiseSchedule().sampling_steps()[-1]
    sample, mean = torch.full((1, 1, 3), 20.0), torch.tensor([[[0.5, -0.5, 0.0]]])
    out = NoiseSchedule.reverse_step(sample, torch.zeros_like(sample), last,
                                     prior=Prior(mean, 0.1))
    # The signal mean + 0.1 * z is clamped to 1, so z = (1 - mean) / 0.1.
    torch.testing.assert_close(out, (1.0 - mean) / 0.1)
    paper = NoiseSchedule.reverse_step(sample, torch.zeros_like(sample), last)
    assert paper.max() == 1.0


# The fast levels each short schedule keeps (1 = the cleanest of the paper's six, 6 the noisiest).
KEPT = {6: [1, 2, 3, 4, 5, 6], 5: [2, 3, 4, 5, 6], 4: [2, 3, 5, 6], 3: [2, 4, 6], 2: [3, 6],
        1: [6]}


def aligned_step(level: float, train_levels: np.ndarray) -> float:
    """The paper's alignment, found here by interpolating sqrt(alpha_bar) between steps."""
    roots = np.sqrt(train_levels)[::-1]  # increasing, for np.interp
    return float(len(roots) - 1 - np.interp(np.sqrt(level), roots, np.arange(len(roots))))


@pytest.mark.parametrize("count", sorted(KEPT))
def test_short_schedules_visit_fast_levels_with_their_own_coefficients(count):
    schedule = NoiseSchedule()
    paper_levels = np.cumprod(1 - np.array([1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]))
    levels = paper_levels[np.array(KEPT[count]) - 1]
    betas = 1 - levels / np.concatenate([[1.0], levels[:-1]])
    np.testing.assert_allclose(schedule.fast_schedule_betas(count), betas, rtol=1e-12)
    steps = schedule.sampling_steps(count)
    assert [step.index for step in steps] == list(reversed(range(count)))
    train_levels = np.cumprod(1 - np.linspace(1e-4, 0.02, 200))
    for step, beta, level, previous in zip(
            steps, betas[::-1], levels[::-1], [*levels[::-1][1:], 1.0], strict=True):
        assert step.noise_scale == pytest.approx(beta / math.sqrt(1 - level), rel=1e-12)
        assert step.sample_scale == pytest.approx(1 / math.sqrt(1 - beta), rel=1e-12)
        posterior = (1 - previous) / (1 - level) * beta if previous < 1 else 0.0
        assert step.sigma == pytest.approx(math.sqrt(posterior), rel=1e-9, abs=0)
        assert step.timestep == pytest.approx(aligned_step(level, train_levels), abs=1e-9)
    assert steps[-1].sigma == 0
    # Every short schedule starts at the six steps' noise level: the initial noise means the same.
    assert np.prod(1 - betas) == pytest.approx(paper_levels[-1], rel=1e-12)


def test_the_six_steps_are_the_fast_betas_themselves():
    schedule = NoiseSchedule()
    assert schedule.fast_steps == 6 and schedule.fast_schedule_betas() == schedule.fast_betas
    assert schedule.sampling_steps(6) == schedule.sampling_steps("fast")
    four = NoiseSchedule(fast_steps=4)
    assert four.sampling_steps("fast") == four.sampling_steps(4) == schedule.sampling_steps(4)
    assert four.fast_timesteps() == schedule.fast_timesteps(4)
    assert NoiseSchedule(fast_betas=[1e-4, 1e-2, 0.3]).fast_steps == 3


@pytest.mark.parametrize("steps,match", [(0, "steps must be one of"), (7, "1 to 6 steps"),
                                         ("six", "steps must be one of"),
                                         (2.0, "steps must be one of")])
def test_bad_step_counts_are_refused(steps, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule().sampling_steps(steps)


@pytest.mark.parametrize("fast_steps", [0, 7, True, 2.5])
def test_a_schedule_refuses_a_step_count_its_fast_betas_lack(fast_steps):
    with pytest.raises(ValueError, match="fast_steps must be an int from 1 to 6"):
        NoiseSchedule(fast_steps=fast_steps)
