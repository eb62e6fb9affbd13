"""The training loss: noise MSE of the output and the auxiliary outputs, plus their phase loss,
and optionally the implied clean signal's MSE and multi-resolution STFT loss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from binauralgrad.evaluation.metrics import mrstft_loss, phase_distance
from binauralgrad.models.denoiser import DenoiserOutput
from binauralgrad.prior import Prior
from binauralgrad.schedule import NoiseSchedule

# Concatenates a tensor over all processes; only this process's part carries gradient.
Gather = Callable[[torch.Tensor], torch.Tensor]
PHASE_IGNORE_BELOW = 0.1  # the original training's energy threshold (the benchmark uses 0.2)
IMPLIED_ALPHA_BAR_FLOOR = 0.04  # see diffusion_loss
# Log names of LossTerms.stacked().
TERM_NAMES = ("loss", "mse_main", "mse_aux", "phase_aux", "clean_main", "mrstft_main",
              "head_fit")


@dataclass
class LossTerms:
    """One evaluation of the loss; every field is a scalar tensor.

    Attributes:
        total: mse_main + mse_aux + lambda_phase * phase_aux + lambda_clean * clean_main +
            lambda_mrstft * mrstft_main (what is minimised).
        mse_main: MSE between the true noise and the final prediction (paper Eq. 4).
        mse_aux: one MSE over all auxiliary predictions together (their mean, not their sum).
        phase_aux: the phase loss of the auxiliary predictions, re-noised, against the noisy input.
        clean_main: MSE between the clean latent implied by the final prediction and the true
            one (zero unless weighted).
        mrstft_main: multi-resolution STFT loss of the implied clean signal against the target
            (zero unless weighted).
        head_fit: the learned head's fit, `head_error` of the prior's mean (zero without a
            learned head; added to `total` with weight 1).
    """

    total: torch.Tensor
    mse_main: torch.Tensor
    mse_aux: torch.Tensor
    phase_aux: torch.Tensor
    clean_main: torch.Tensor | None = None
    mrstft_main: torch.Tensor | None = None
    head_fit: torch.Tensor | None = None

    def __post_init__(self):
        zero = self.mse_main.new_zeros(())
        self.clean_main = zero if self.clean_main is None else self.clean_main
        self.mrstft_main = zero if self.mrstft_main is None else self.mrstft_main
        self.head_fit = zero if self.head_fit is None else self.head_fit

    def as_floats(self, prefix: str = "train/") -> dict[str, float]:
        """The terms as Python floats under log keys (`train/loss`, `train/mse_main`, ...)."""
        return {f"{prefix}{name}": float(value)
                for name, value in zip(TERM_NAMES, self.stacked(), strict=True)}

    def stacked(self) -> torch.Tensor:
        """The terms in TERM_NAMES order, detached (for reducing over processes)."""
        return torch.stack([self.total, self.mse_main, self.mse_aux, self.phase_aux,
                            self.clean_main, self.mrstft_main, self.head_fit]).detach()


def clean_target(batch: dict[str, torch.Tensor], stage: int) -> torch.Tensor:
    """What a stage learns to generate: the ears' mean (B, 1, T) or both ears (B, 2, T)."""
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    return batch["mean"] if stage == 1 else batch["binaural"]


def model_conditions(batch: dict[str, torch.Tensor], stage: int) -> dict[str, torch.Tensor]:
    """The denoiser's keyword conditions; stage two gets the ground-truth mean (teacher forcing)."""
    conditions = {"warped": batch["warped"], "mono": batch["mono"], "positions": batch["positions"]}
    if stage == 2:
        conditions["mean"] = batch["mean"]
    return conditions


def diffusion_loss(model: nn.Module, batch: dict[str, torch.Tensor], timesteps: torch.Tensor,
                   noise: torch.Tensor, schedule: NoiseSchedule, *, stage: int,
                   lambda_phase: float = 0.01, gather: Gather | None = None,
                   lambda_clean: float = 0.0, lambda_mrstft: float = 0.0) -> LossTerms:
    """Noises the stage's target, runs the denoiser and scores its noise predictions.

    A denoiser with a prior (`DenoiserConfig.prior`) learns the latent of its target, the
    residual over the prior's mean divided by its scale, as its sampler generates it.

    Args:
        model: the denoiser (possibly wrapped by Accelerate / DDP).
        batch: float tensors `mono` (B,1,T), `warped` (B,2,T), `positions` (B,7,K), `mean`
            (B,1,T), and `binaural` (B,2,T) for stage two.
        timesteps: (B,) training steps, one per item: integers, or continuous steps.
        noise: (B, C, T) unit Gaussian noise, C = 1 (stage one) or 2 (stage two).
        schedule: the training noise schedule.
        stage: 1 or 2.
        lambda_phase: weight of the phase term.
        gather: for data-parallel runs, see `loss_terms`.
        lambda_clean, lambda_mrstft: weights of the implied clean latent's MSE and of its
            decoded signal's multi-resolution STFT loss (`clean_terms`).

    Returns:
        LossTerms.
    """
    target = clean_target(batch, stage)
    if noise.shape != target.shape:
        raise ValueError(f"noise must match the stage-{stage} target {tuple(target.shape)}, "
                         f"got {tuple(noise.shape)}")
    conditions = model_conditions(batch, stage)
    prior = _unwrap(model).prior(**conditions)
    head_fit = None
    if prior.mean is not None and prior.mean.requires_grad:
        # A learned head is fitted by its own loss, the square error of its signal (the
        # latent's would weigh the pauses' reverberation by the envelope's 1 / sigma^2). The
        # diffusion terms see it as a fixed prior, as the sampler will.
        head_fit = head_error(prior.mean, target)
        prior = Prior(prior.mean.detach(), prior.std)
    clean = prior.encode(target)
    noisy = schedule.add_noise(clean, noise, timesteps)
    output = model(noisy, timesteps, return_aux=True, **conditions)
    alpha_bar = schedule.alpha_bars(timesteps.to(clean.device)).view(-1, 1, 1)
    terms = loss_terms(output, clean=clean, noisy=noisy, noise=noise, alpha_bar=alpha_bar,
                       lambda_phase=lambda_phase, gather=gather)
    if lambda_clean or lambda_mrstft:
        # x_0 = (x_t - sqrt(1 - a) eps) / sqrt(a); the floor on a keeps the paper's uniform
        # levels (a down to 1e-4) from weighting the noisiest steps by thousands.
        implied = (noisy - (1.0 - alpha_bar).sqrt() * output.sample.float()) / \
            alpha_bar.clamp(min=IMPLIED_ALPHA_BAR_FLOOR).sqrt()
        terms = clean_terms(terms, implied, clean, prior.decode(implied), target,
                            lambda_clean=lambda_clean, lambda_mrstft=lambda_mrstft)
    if head_fit is not None:
        terms = replace(terms, total=terms.total + head_fit, head_fit=head_fit)
    return terms


def head_error(signal: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A learned head's fit: the square error in the benchmark's Wave L2 units (MSE x 1000).

    Not relative to each batch's energy: that would weigh a batch of pauses, where the room's
    tail is all there is, as much as one of speech, and fit the head to the reverberation.
    """
    return 1000.0 * torch.mean((target.float() - signal.float()) ** 2)


def clean_terms(terms: LossTerms, implied: torch.Tensor, clean: torch.Tensor,
                signal: torch.Tensor, target: torch.Tensor, *, lambda_clean: float,
                lambda_mrstft: float) -> LossTerms:
    """`terms` with the implied clean latent's MSE and its signal's MRSTFT loss added.

    Args:
        implied: (B, C, T) the clean latent the noise prediction implies; clean: the true one.
        signal: (B, C, T) `implied` decoded by the prior; target: the true signal.
    """
    zero = terms.total.new_zeros(())
    clean_main = torch.mean((implied - clean) ** 2) if lambda_clean else zero
    mrstft_main = mrstft_loss(signal.float(), target.float()) if lambda_mrstft else zero
    total = terms.total + lambda_clean * clean_main + lambda_mrstft * mrstft_main
    return LossTerms(total, terms.mse_main, terms.mse_aux, terms.phase_aux, clean_main,
                     mrstft_main)


def _unwrap(model: nn.Module) -> nn.Module:
    """The denoiser inside a DDP (or compiled) wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def loss_terms(output: DenoiserOutput, *, clean: torch.Tensor, noisy: torch.Tensor,
               noise: torch.Tensor, alpha_bar: torch.Tensor, lambda_phase: float,
               gather: Gather | None = None) -> LossTerms:
    """The loss of one denoiser output (the original's `use_l2_loss` + `phase_loss` training).

    Args:
        output: the denoiser's prediction (autocast outputs are scored in float32).
        clean: (B, C, T) the target x_0.
        noisy: (B, C, T) the denoiser's input x_t.
        noise: (B, C, T) the noise that made x_t.
        alpha_bar: (B, 1, 1) alpha_bar_t of each item.
        lambda_phase: weight of the phase term.
        gather: in a data-parallel run, concatenates a tensor over the processes (only the
            local part carrying gradient). The phase loss is a mean over the kept STFT bins of
            the whole batch, with a threshold from the whole batch's energy, so it does not
            split into per-process means; with `gather` it is computed over the global batch,
            and its gradient is scaled so that averaging over processes (DDP) gives the
            one-process gradient. The MSE terms split exactly and stay local.
    """
    mse_main = torch.mean((output.sample.float() - noise) ** 2)
    zero = mse_main.new_zeros(())
    if not output.aux_samples:
        return LossTerms(mse_main, mse_main, zero, zero)
    count = len(output.aux_samples)
    aux = torch.cat([sample.float() for sample in output.aux_samples], dim=0)
    mse_aux = torch.mean((aux - noise.repeat(count, 1, 1)) ** 2)
    phase_aux = zero
    if lambda_phase > 0:
        # Each auxiliary noise estimate implies a noisy signal at the same level; its phase should
        # match the real noisy input's. The threshold follows the re-noised prediction's energy,
        # so it is phase_distance's `target` (as in the original's call).
        alpha_bar = alpha_bar.repeat(count, 1, 1)
        renoised = alpha_bar.sqrt() * clean.repeat(count, 1, 1) + (1.0 - alpha_bar).sqrt() * aux
        phase_aux = _phase_term(noisy.repeat(count, 1, 1), renoised, gather)
    total = mse_main + mse_aux + lambda_phase * phase_aux
    return LossTerms(total, mse_main, mse_aux, phase_aux)


def _phase_term(noisy: torch.Tensor, renoised: torch.Tensor, gather: Gather | None) -> torch.Tensor:
    if gather is None:
        return phase_distance(noisy, renoised, ignore_below=PHASE_IGNORE_BELOW)
    everywhere = gather(renoised)
    phase = phase_distance(gather(noisy), everywhere, ignore_below=PHASE_IGNORE_BELOW)
    # The value is the global one; the gradient here reaches only the local part, and DDP then
    # divides the sum over processes by their number: scale the gradient back up by it.
    processes = everywhere.shape[0] // renoised.shape[0]
    return phase + (processes - 1) * (phase - phase.detach())
