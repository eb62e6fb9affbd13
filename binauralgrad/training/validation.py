"""Held-out validation: fast sampling of the trained stage on short clips, benchmark metrics."""

from __future__ import annotations

import numpy as np
import torch

from binauralgrad.evaluation.metrics import compute_metrics
from binauralgrad.inference.reference import sample_stage
from binauralgrad.models.denoiser import BinauralDenoiser
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training.config import TrainingConfig
from binauralgrad.training.data import TrainingCollator, mix_seed
from binauralgrad.training.losses import clean_target, model_conditions

# The benchmark's distances; PESQ (resampling, 5 s windows) is left to `binauralgrad evaluate`.
VALIDATION_METRICS = ("wave_l2", "amplitude_l2", "phase_l2", "mrstft")
STAGE_TWO_METRICS = VALIDATION_METRICS + ("itd_error",)  # timing between the ears


def stage_metrics(stage: int) -> tuple[str, ...]:
    """The metrics a stage is validated on: stage two adds the ITD error (it has two ears)."""
    return STAGE_TWO_METRICS if stage == 2 else VALIDATION_METRICS


def load_validation_batch(config: TrainingConfig) -> dict[str, torch.Tensor]:
    """A fixed batch of held-out clips: evenly spread chunks, crops fixed by the seed.

    Returns:
        The collated batch (see `TrainingCollator`) of `validation_clips` items or fewer.
    """
    from binauralgrad.data import load_binaural_dataset

    rows = load_binaural_dataset(config.validation_dir, chunk_length=config.chunk_length,
                                 hop_length=config.hop_length)
    count = min(config.validation_clips, len(rows))
    picks = np.linspace(0, len(rows) - 1, count).round().astype(int).tolist()
    collator = TrainingCollator(config.validation_clip_length,
                                config.denoiser_config().out_channels,
                                config.denoiser_config().num_train_steps)
    return collator([{**rows[index], "item_seed": mix_seed(config.seed, index, 2)}
                     for index in picks])


def baseline_scores(batch: dict[str, torch.Tensor], *, stage: int) -> dict[str, float]:
    """The geometric warp's scores on the batch, as `validate` scores the model.

    Stage one's baseline is the warped channels' mean, stage two's the warp itself.

    Returns:
        {"eval_dsp/wave_l2": ..., ...}
    """
    warped = batch["warped"].float().cpu()
    prediction = warped.mean(dim=1, keepdim=True) if stage == 1 else warped
    scores = compute_metrics(prediction, clean_target(batch, stage).float().cpu(),
                             metrics=stage_metrics(stage))
    return {f"eval_dsp/{name}": float(value) for name, value in scores.items()}


def prior_scores(denoiser: BinauralDenoiser, batch: dict[str, torch.Tensor], *,
                 stage: int, learned: bool = False) -> dict[str, float]:
    """The stage's DSP prior alone (its mean: a denoiser that learnt nothing), scored as
    `validate`; with `learned`, its learned head alone (the prior's trained part, no sampling).

    Empty for the paper's stages, which have no prior, and for `learned` without a head. With
    them beside the model's scores, a learning curve shows what the denoiser adds over its own
    prior, not over the warp.

    Returns:
        {"eval_prior/wave_l2": ..., ...}, or {"eval_head/wave_l2": ..., ...} with `learned`.
    """
    if denoiser.config.diffuses_signal or (learned and not denoiser.config.prior.head_taps):
        return {}
    device = next(denoiser.parameters()).device
    conditions = model_conditions({key: value.to(device) for key, value in batch.items()}, stage)
    target = clean_target(batch, stage).float().cpu()
    with torch.no_grad():
        alone = denoiser.prior(**conditions, learned=learned).decode(
            torch.zeros_like(target).to(device))
    scores = compute_metrics(alone.float().cpu(), target, metrics=stage_metrics(stage))
    prefix = "eval_head" if learned else "eval_prior"
    return {f"{prefix}/{name}": float(value) for name, value in scores.items()}


def validate(denoiser: BinauralDenoiser, schedule: NoiseSchedule, batch: dict[str, torch.Tensor],
             *, stage: int, seed: int) -> dict[str, float]:
    """Samples the stage's target for the batch and scores it against the truth.

    Stage one is scored on the ears' mean, stage two on both ears (given the true mean).

    Returns:
        {"eval/wave_l2": ..., "eval/amplitude_l2": ..., "eval/phase_l2": ..., "eval/mrstft": ...}
    """
    device = next(denoiser.parameters()).device
    batch = {key: value.to(device) for key, value in batch.items()}
    was_training = denoiser.training
    denoiser.eval()
    try:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            prediction = sample_stage(
                denoiser, schedule, model_conditions(batch, stage),
                lambda shape: torch.randn(shape, generator=generator).to(device))
    finally:
        denoiser.train(was_training)
    scores = compute_metrics(prediction.float().cpu(), clean_target(batch, stage).float().cpu(),
                             metrics=stage_metrics(stage))
    return {f"eval/{name}": float(value) for name, value in scores.items()}
