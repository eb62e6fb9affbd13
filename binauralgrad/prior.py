"""What a stage diffuses: the signal itself (the paper), or its scaled residual over a DSP prior.

The paper diffuses the signal x from unit noise. Speech sits near RMS 0.04 under that unit noise,
so a small model must predict the noise very precisely before anything audible emerges. With a
data-dependent prior (PriorGrad, Lee et al., ICLR 2022) a stage diffuses the latent
z = (x - mu) / s instead, where mu is what the geometric warp already says about x and s is the
scale of what it does not; sampling starts from unit noise in z and the result is mu + s * z.
So a model that has learnt little still returns the DSP prior plus a little noise, never noise.

Priors (`DenoiserConfig.prior`):
    "zero": mu = 0 (the paper's; with prior_scale != 1 it is plain signal scaling).
    "warp": stage one, mu = the mean of the two warped channels; stage two, mu = the warped
        channels moved so that their mean is the mean condition (stage one's output), so that
        the stage only adds what the warp's interaural difference misses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the functions only call tensor methods; configs import PRIORS without torch
    import torch

PRIORS = ("zero", "warp")


def prior_mean(prior: str, out_channels: int, warped: torch.Tensor,
               mean: torch.Tensor | None = None) -> torch.Tensor | None:
    """The prior's mean mu for a stage, from its conditions (None for the zero prior).

    Args:
        prior: one of PRIORS.
        out_channels: 1 (stage one, the ears' mean) or 2 (stage two, both ears).
        warped: (B, 2, T) the geometric warp.
        mean: (B, 1, T) the ears' mean; required by stage two's warp prior.

    Returns:
        (B, out_channels, T), or None when mu = 0.
    """
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {list(PRIORS)}, got {prior!r}")
    if prior == "zero":
        return None
    warp_mean = warped.mean(dim=1, keepdim=True)
    if out_channels == 1:
        return warp_mean
    if mean is None:
        raise ValueError("stage two's warp prior needs the mean condition")
    return warped - warp_mean + mean


def encode(signal: torch.Tensor, mu: torch.Tensor | None, scale: float) -> torch.Tensor:
    """The latent z = (signal - mu) / scale that a stage diffuses."""
    return (signal if mu is None else signal - mu) / scale


def decode(latent: torch.Tensor, mu: torch.Tensor | None, scale: float) -> torch.Tensor:
    """The signal mu + scale * z that a latent stands for."""
    signal = scale * latent
    return signal if mu is None else mu + signal
