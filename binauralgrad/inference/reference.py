"""The reference sampler: ancestral sampling, every pass over the whole input (the yardstick)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from binauralgrad.inference.noise import NoiseSource, PositionalNoise
from binauralgrad.models.denoiser import BinauralDenoiser
from binauralgrad.schedule import NoiseSchedule


def sample_stage(denoiser: BinauralDenoiser, schedule: NoiseSchedule,
                 conditions: dict[str, torch.Tensor], noise: NoiseSource,
                 steps: str | int = "fast",
                 on_step: Callable[[], object] = lambda: None) -> torch.Tensor:
    """Ancestral sampling of one stage (paper Algorithm 2), every pass over the whole input.

    The straightforward reference. It samples the stage's latent from unit noise and returns
    the signal it stands for (`binauralgrad.prior`; the paper's stages diffuse the signal).

    Args:
        denoiser: the stage's denoiser.
        schedule: the noise schedule.
        conditions: `warped` (B,2,T), `mono` (B,1,T), `positions` (B,7,K) and, for stage two,
            `mean` (B,1,T), in the denoiser's dtype.
        noise: `noise(shape)` is called for the initial noise, then after each step with
            sigma > 0.
        steps: "fast", the schedule's fast steps (default), a number of fast steps, or "full",
            every training step (`NoiseSchedule.sampling_steps`).
        on_step: called after each step.

    Returns:
        (B, C, T) the stage's signal.
    """
    condition = denoiser.encode_condition(**conditions)
    prior = denoiser.prior(**conditions)
    batch, length, dtype = condition.shape[0], condition.shape[-1], condition.dtype
    sample = schedule.temperature * noise((batch, denoiser.config.out_channels, length)).to(dtype)
    for step in schedule.sampling_steps(steps):
        predicted = denoiser.denoise(sample, step.timestep_tensor(condition.device), condition,
                                     return_aux=False).sample
        fresh = noise(sample.shape).to(dtype) if step.sigma > 0 else None
        sample = schedule.reverse_step(sample, predicted, step, fresh, prior=prior)
        on_step()
    return prior.decode(sample)


def sample_reference(stage_one: BinauralDenoiser, stage_two: BinauralDenoiser,
                     schedule: NoiseSchedule, mono: torch.Tensor, positions: torch.Tensor,
                     warped: torch.Tensor, noise: PositionalNoise, *, steps: str | int = "fast",
                     progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Both stages by `sample_stage`, in the denoisers' dtype, on the noise of `noise`.

    Args:
        stage_one, stage_two: the pipeline's denoisers.
        schedule: the noise schedule.
        mono: (B, 1, T), positions: (B, 7, K), warped: (B, 2, T) the prepared inputs.
        noise: the positional noise (the wavefront draws the same).
        steps: as for `sample_stage`. progress: show a progress bar.

    Returns:
        (mean (B, 1, T), binaural (B, 2, T)).
    """
    parameter = next(stage_one.parameters())
    conditions = {"warped": warped, "mono": mono, "positions": positions}
    conditions = {key: value.to(parameter.dtype) for key, value in conditions.items()}
    items = list(range(mono.shape[0]))
    starts = [0] * len(items)
    count = len(schedule.sampling_steps(steps))
    with tqdm(total=2 * count, desc="BinauralGrad", disable=not progress) as bar:
        first = noise.source(1, items=items, starts=starts, device=parameter.device)
        mean = sample_stage(stage_one, schedule, conditions, first, steps, bar.update)
        second = noise.source(2, items=items, starts=starts, device=parameter.device)
        audio = sample_stage(stage_two, schedule, {**conditions, "mean": mean}, second, steps,
                             bar.update)
    return mean, audio
