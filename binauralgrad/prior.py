"""What a stage diffuses: the signal itself (the paper), or its scaled residual over a DSP prior.

The paper diffuses the signal x from unit noise. Speech sits near RMS 0.04 under that unit noise,
so a small model must predict the noise very precisely before anything audible emerges. With a
data-dependent prior (PriorGrad, Lee et al., ICLR 2022) a stage diffuses the latent
z = (x - mu) / sigma instead, where mu is what the geometric warp already says about x and sigma
the scale of what it does not; sampling starts from unit noise in z and returns mu + sigma * z.
So a model that has learnt little still returns the DSP prior plus a little noise, never noise.

Means (`DenoiserConfig.prior`):
    "zero": mu = 0 (the paper's; with prior_scale != 1 it is plain signal scaling).
    "warp": stage one, mu = g x the mean of the two warped channels; stage two, mu = g x the
        warped channels' difference from their mean, plus the mean condition (stage one's
        output), so that the stage only adds what the warp's interaural difference misses.
        g is `prior_gain`: how much quieter the ears are than the mono microphone (the warp
        has no distance attenuation; about 0.4 on the simulated data).
    "attenuated_warp": as "warp", with each warped ear first scaled by its spherical spreading
        1 / r (r in metres, `dsp.spreading_gain`); g is then the ears' level over the mono's
        for a talker 1 m away. Talkers move between 0.4 and 3 m, so a constant g alone is off
        by up to 3x; with 1 / r the prior alone halves the warp's Wave L2 on held-out scenes.
Scales (`DenoiserConfig.prior_std`):
    "constant": sigma = prior_scale everywhere.
    "envelope": sigma = prior_scale * (the mono signal's frame RMS + a floor), as PriorGrad
        scales by the condition's energy: speech pauses get a small sigma, so the noise that a
        model leaves in its latent stays as quiet as the pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # configs import the names below without loading torch
    import torch

PRIORS = ("zero", "warp", "attenuated_warp")
PRIOR_STDS = ("constant", "envelope")
ENVELOPE_FLOOR = 3e-4  # RMS (about -70 dBFS): sigma in silence, relative to prior_scale


@dataclass
class Prior:
    """A stage's prior at some samples: z = (signal - mean) / std.

    Attributes:
        mean: like the signal, or None for zero.
        std: a number, or a tensor broadcasting against the signal.
    """

    mean: torch.Tensor | None = None
    std: torch.Tensor | float = 1.0

    def transposed(self) -> Prior:
        """The same prior for time-major rows (B, T, C) instead of (B, C, T)."""
        return Prior(None if self.mean is None else self.mean.transpose(1, 2),
                     self.std if isinstance(self.std, float) else self.std.transpose(1, 2))

    @property
    def is_identity(self) -> bool:
        """Whether the latent is the signal itself (the paper's stages)."""
        return self.mean is None and isinstance(self.std, float) and self.std == 1.0

    def encode(self, signal: torch.Tensor) -> torch.Tensor:
        """The latent z = (signal - mean) / std that a stage diffuses."""
        return (signal if self.mean is None else signal - self.mean) / self.std

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The signal mean + std * z that a latent stands for."""
        signal = self.std * latent
        return signal if self.mean is None else self.mean + signal


def envelope(mono: torch.Tensor, frame_samples: int) -> torch.Tensor:
    """The mono signal's RMS per frame, linearly interpolated between frame centres.

    Args:
        mono: (B, 1, T) with T a multiple of `frame_samples`.

    Returns:
        (B, 1, T), at least ENVELOPE_FLOOR.
    """
    from binauralgrad.dsp import upsample_frames

    frames = mono.shape[-1] // frame_samples
    if frames * frame_samples != mono.shape[-1] or frames == 0:
        raise ValueError(f"the envelope needs whole frames of {frame_samples} samples, "
                         f"got {mono.shape[-1]} samples")
    smooth = upsample_frames(frame_rms(mono, frame_samples), 0, mono.shape[-1],
                             frame_samples=frame_samples, total_frames=frames)
    return smooth + ENVELOPE_FLOOR


def frame_rms(mono: torch.Tensor, frame_samples: int) -> torch.Tensor:
    """(B, 1, n * frame_samples) -> (B, 1, n): each whole frame's RMS (the envelope's frames)."""
    frames = mono.shape[-1] // frame_samples
    return mono.float().reshape(mono.shape[0], 1, frames, frame_samples).pow(2).mean(-1).sqrt()


def needs_spreading(config) -> bool:
    """Whether a stage's prior needs `dsp.spreading_gain` of the positions."""
    return config.prior == "attenuated_warp"


def prior_terms(configs, mono: torch.Tensor, positions: torch.Tensor):
    """(envelope, spreading) of whole inputs where one of the stages' priors needs them, else None.

    Computed over the whole input once, so that every window, tile and chunk of it slices the
    same values.

    Args:
        configs: the stages' DenoiserConfigs.
        mono: (B, 1, T). positions: (B, 7, K) with T a multiple of K.

    Returns:
        (`envelope(mono)` (B, 1, T) or None, `dsp.spreading_gain(positions)` (B, 2, T) or None).
    """
    from binauralgrad import dsp

    scaled = spreading = None
    if any(config.prior_std == "envelope" for config in configs):
        scaled = envelope(mono, configs[0].frame_samples)
    if any(needs_spreading(config) for config in configs):
        spreading = dsp.spreading_gain(positions, mono.shape[-1])
    return scaled, spreading


def stage_prior(config, warped: torch.Tensor, mean: torch.Tensor | None = None,
                envelope_: torch.Tensor | None = None,
                spreading: torch.Tensor | None = None) -> Prior:
    """A stage's prior from its conditions.

    Args:
        config: the stage's DenoiserConfig (prior, prior_std, prior_scale, out_channels).
        warped: (B, 2, T) the geometric warp.
        mean: (B, 1, T) the ears' mean; required by stage two's warp prior.
        envelope_: (B, 1, T) `envelope(mono)`; required by the "envelope" scale.
        spreading: (B, 2, T) `dsp.spreading_gain(positions)`; required by "attenuated_warp".

    Returns:
        The Prior.
    """
    if config.prior not in PRIORS:
        raise ValueError(f"prior must be one of {list(PRIORS)}, got {config.prior!r}")
    std = float(config.prior_scale)
    if config.prior_std == "envelope":
        if envelope_ is None:
            raise ValueError("an envelope-scaled prior needs the mono signal's envelope")
        std = config.prior_scale * envelope_
    if config.prior == "zero":
        return Prior(None, std)
    if needs_spreading(config):
        if spreading is None:
            raise ValueError("an attenuated warp prior needs the ears' spreading gain")
        warped = warped * spreading
    warp_mean = warped.mean(dim=1, keepdim=True)
    if config.out_channels == 1:
        return Prior(config.prior_gain * warp_mean, std)
    if mean is None:
        raise ValueError("stage two's warp prior needs the mean condition")
    return Prior(config.prior_gain * (warped - warp_mean) + mean, std)
