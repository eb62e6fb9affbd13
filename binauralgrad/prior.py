"""What a stage diffuses: the signal itself (the paper), or its scaled residual over a DSP prior.

The paper diffuses the signal x from unit noise. Speech sits near RMS 0.04 under that unit noise,
so a small model must predict the noise very precisely before anything audible emerges. With a
data-dependent prior (PriorGrad, Lee et al., ICLR 2022) a stage diffuses the latent
z = (x - mu) / sigma instead, where mu is what the geometric warp already says about x and sigma
the scale of what it does not; sampling starts from unit noise in z and returns mu + sigma * z.
So a model that has learnt little still returns the DSP prior plus a little noise, never noise.

Means (`PriorConfig.kind`, held whole as `DenoiserConfig.prior` and `TrainingConfig.prior`):
    "zero": mu = 0 (the paper's; with prior_scale != 1 it is plain signal scaling).
    "warp": stage one, mu = g x the mean of the two warped channels; stage two, mu = g x the
        warped channels' difference from their mean, plus the mean condition (stage one's
        output), so that the stage only adds what the warp's interaural difference misses.
        g is `PriorConfig.gain`: how much quieter the ears are than the mono microphone (the warp
        has no distance attenuation; about 0.4 on the simulated data).
    "attenuated_warp": as "warp", with each warped ear first scaled by its spherical spreading
        1 / r (r in metres, `dsp.spreading_gain`); g is then the ears' level over the mono's
        for a talker 1 m away. Talkers move between 0.4 and 3 m, so a constant g alone is off
        by up to 3x; with 1 / r the prior alone halves the warp's Wave L2 on held-out scenes.
A learned head (`PriorConfig.head_taps` > 0, with "warp" or "attenuated_warp"): each warped
    ear, attenuated or not, first passes through the stage's `models.head_filter.HeadFilter`, a
    filter of that many taps that follows the talker's direction at the ear, fitted to the
    target by its own loss. It starts as a unit impulse, so untrained it is the DSP prior.
Scales (`PriorConfig.std`):
    "constant": sigma = scale everywhere.
    "envelope": sigma = scale * (the mono signal's frame RMS + a floor), as PriorGrad
        scales by the condition's energy: speech pauses get a small sigma, so the noise that a
        model leaves in its latent stays as quiet as the pause.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # configs import the names below without loading torch
    import torch

PRIORS = ("zero", "warp", "attenuated_warp")
PRIOR_STDS = ("constant", "envelope")
ENVELOPE_FLOOR = 3e-4  # RMS (about -70 dBFS): sigma in silence, relative to the scale
# The flat spelling of a PriorConfig in configs saved before it existed (and on the command line).
FLAT_FIELDS = {"prior_std": "std", "prior_scale": "scale", "prior_gain": "gain",
               "prior_head_taps": "head_taps"}


@dataclass(frozen=True)
class PriorConfig:
    """What a stage diffuses (see the module docstring); the default is the paper's: the signal.

    Attributes:
        kind: the prior's mean, one of PRIORS. std: its scale, one of PRIOR_STDS.
        scale: sigma, or sigma's factor on the envelope. gain: the warp prior's level factor.
        head_taps: the learned head's filter length (0: none, the DSP prior alone).
    """

    kind: str = "zero"
    std: str = "constant"
    scale: float = 1.0
    gain: float = 1.0
    head_taps: int = 0

    def __post_init__(self):
        if self.kind not in PRIORS:
            raise ValueError(f"prior must be one of {list(PRIORS)}, got {self.kind!r}")
        if self.std not in PRIOR_STDS:
            raise ValueError(f"prior_std must be one of {list(PRIOR_STDS)}, got {self.std!r}")
        for name in ("scale", "gain"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 < value < math.inf:
                raise ValueError(f"prior_{name} must be a positive number, got {value!r}")
        taps = self.head_taps
        if isinstance(taps, bool) or not isinstance(taps, int) or taps < 0 or taps == 1:
            raise ValueError(f"prior_head_taps must be 0 (none) or an int >= 2, got {taps!r}")
        if taps and self.kind == "zero":
            raise ValueError("a learned head filters the warp: it needs prior warp or "
                             "attenuated_warp, not zero")

    @classmethod
    def coerce(cls, prior=None, **flat) -> PriorConfig:
        """A PriorConfig from itself, its dict, or the flat form (kind, prior_std=, ...).

        Old config.json / training_config.json files and the command line give `prior` as the
        kind's name with `prior_std`, `prior_scale`, `prior_gain` beside it; None leaves a field
        at its default.
        """
        given = {FLAT_FIELDS[name]: value for name, value in flat.items() if value is not None}
        if prior is None or isinstance(prior, str):
            return cls(**({} if prior is None else {"kind": prior}), **given)
        if isinstance(prior, dict):
            unknown = sorted(set(prior) - set(cls.__dataclass_fields__))
            if unknown:
                raise ValueError(f"unknown prior field(s) {unknown}")
            return cls(**{**prior, **given})
        if isinstance(prior, cls):
            return cls(**{**asdict(prior), **given}) if given else prior
        raise ValueError(f"prior must be a PriorConfig, its dict or a kind name, got {prior!r}")

    @property
    def is_identity(self) -> bool:
        """Whether the stage diffuses the signal itself (the paper's)."""
        return self.kind == "zero" and self.std == "constant" and self.scale == 1.0

    @property
    def needs_envelope(self) -> bool:
        return self.std == "envelope"

    @property
    def needs_spreading(self) -> bool:
        """Whether the prior needs `dsp.spreading_gain` of the positions."""
        return self.kind == "attenuated_warp"

    @property
    def head_lead(self) -> int:
        """Samples past its own that the learned head reads at a sample (0 without one)."""
        from binauralgrad.models.head_filter import head_lead

        return head_lead(self.head_taps) if self.head_taps else 0

    @property
    def head_past(self) -> int:
        """Samples before its own that the learned head reads at a sample (0 without one)."""
        from binauralgrad.models.head_filter import head_past

        return head_past(self.head_taps) if self.head_taps else 0

    def input_needed(self, sample: int, frame_samples: int) -> int:
        """The last input sample the prior's terms at `sample` read (a stream waits for it).

        The warp is read at the sample itself, and a learned head's `head_lead` samples past it;
        the envelope, the spreading gain and the head's directions interpolate between frame
        centres, so past a frame's centre they need the next frame: its audio complete (the
        envelope) or its row, which arrives with its first sample (spreading, directions).
        """
        def upper(at: int) -> int:
            return (2 * at + 1 - frame_samples) // (2 * frame_samples) + 1

        ahead = sample + self.head_lead
        need = ahead
        if self.needs_envelope:
            need = max(need, frame_samples * (upper(sample) + 1) - 1)
        if self.needs_spreading or self.head_taps:
            need = max(need, frame_samples * upper(ahead))
        return need


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


def accepts_flat_prior(cls):
    """Lets a config dataclass with a `prior: PriorConfig` field take the flat form too.

    `cls(prior="warp", prior_std="envelope", prior_scale=0.5, prior_gain=0.4)` (older saved
    files, the command line) builds the nested PriorConfig; reading `config.prior_std` and the
    others still works, with a DeprecationWarning. The flat names are no dataclass fields, so
    `asdict` and `dataclasses.replace` see only the nested prior.
    """
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        flat = {name: kwargs.pop(name) for name in FLAT_FIELDS if name in kwargs}
        if flat or isinstance(kwargs.get("prior"), (str, dict)):
            kwargs["prior"] = PriorConfig.coerce(kwargs.get("prior"), **flat)
        init(self, *args, **kwargs)

    def reader(name: str) -> property:
        def read(self):
            warnings.warn(f"{cls.__name__}.{name} is deprecated: read {cls.__name__}.prior."
                          f"{FLAT_FIELDS[name]}", DeprecationWarning, stacklevel=2)
            return getattr(self.prior, FLAT_FIELDS[name])
        return property(read)

    cls.__init__ = __init__
    for name in FLAT_FIELDS:
        setattr(cls, name, reader(name))
    return cls


def envelope(mono: torch.Tensor, frame_samples: int) -> torch.Tensor:
    """The mono signal's RMS per frame, linearly interpolated between frame centres.

    Args:
        mono: (B, 1, T) with T a multiple of `frame_samples`.

    Returns:
        (B, 1, T), at least ENVELOPE_FLOOR.
    """
    frames = mono.shape[-1] // frame_samples
    if frames * frame_samples != mono.shape[-1] or frames == 0:
        raise ValueError(f"the envelope needs whole frames of {frame_samples} samples, "
                         f"got {mono.shape[-1]} samples")
    return envelope_from_frames(frame_rms(mono, frame_samples), 0, mono.shape[-1],
                                frame_samples=frame_samples, total_frames=frames)


def envelope_from_frames(rms: torch.Tensor, first: int, last: int, *, frame_samples: int,
                         frame_offset: int = 0, total_frames: int | None = None) -> torch.Tensor:
    """The envelope at samples first .. last - 1 from the frame RMS values held (a stream's few).

    Args:
        rms: (B, 1, n) `frame_rms` of frames frame_offset .. frame_offset + n - 1.
        total_frames: see `dsp.upsample_frames`.
    """
    from binauralgrad.dsp import upsample_frames

    return upsample_frames(rms, first, last, frame_samples=frame_samples,
                           frame_offset=frame_offset, total_frames=total_frames) + ENVELOPE_FLOOR


def frame_rms(mono: torch.Tensor, frame_samples: int) -> torch.Tensor:
    """(B, 1, n * frame_samples) -> (B, 1, n): each whole frame's RMS (the envelope's frames)."""
    frames = mono.shape[-1] // frame_samples
    return mono.float().reshape(mono.shape[0], 1, frames, frame_samples).pow(2).mean(-1).sqrt()


class PriorTerms:
    """The one provider of the stages' prior terms: the reference's, the wavefront's, a stream's.

    The terms are what a prior reads beyond the warp and the mean: the mono envelope, the
    ears' spreading gain and, for a learned head, the ears' directions. Whole inputs get them once
    (`whole`); a stream builds them from the frames it holds (`envelope_from_frames`,
    `dsp.upsample_frames`) and waits for the samples that `known_end` and `input_needed` name.

    Args:
        priors: the stages' PriorConfigs (or DenoiserConfigs, whose `.prior` is taken).
    """

    def __init__(self, priors: Sequence):
        self.priors = [getattr(prior, "prior", prior) for prior in priors]
        self.envelope = any(prior.needs_envelope for prior in self.priors)
        self.spreading = any(prior.needs_spreading for prior in self.priors)
        self.head_lead = max(prior.head_lead for prior in self.priors)
        self.head_past = max(prior.head_past for prior in self.priors)
        self.directions = any(prior.head_taps for prior in self.priors)

    def whole(self, mono: torch.Tensor, positions: torch.Tensor, frame_samples: int):
        """(envelope (B, 1, T), spreading (B, 2, T), directions (B, 6, T)) of whole inputs,
        each None where no stage needs it.

        Computed over the whole input once, so that every window, tile and chunk of it slices
        the same values.
        """
        from binauralgrad import dsp
        from binauralgrad.models.head_filter import whole_directions

        scaled = envelope(mono, frame_samples) if self.envelope else None
        spreading = dsp.spreading_gain(positions, mono.shape[-1]) if self.spreading else None
        directions = whole_directions(positions, mono.shape[-1], frame_samples) \
            if self.directions else None
        return scaled, spreading, directions

    def known_end(self, warped_end: int, rms_frames: int, gain_frames: int,
                  frame_samples: int) -> int:
        """Samples whose terms are known, given the warp's end and the frames held so far."""
        end = min([warped_end, *self.term_ends(rms_frames, gain_frames, frame_samples).values()])
        if self.head_lead:
            gains = _interpolation_end(gain_frames, frame_samples)
            end = min(end, min(warped_end, gains) - self.head_lead)
        return max(end, 0)

    def term_ends(self, rms_frames: int, gain_frames: int, frame_samples: int) -> dict:
        """{term: samples at which it is final}, for each term a stage reads ("envelope",
        "spreading", "directions"), given the frames held so far."""
        rms = _interpolation_end(rms_frames, frame_samples)
        gains = _interpolation_end(gain_frames, frame_samples)  # the directions come with them
        terms = {"envelope": (self.envelope, rms), "spreading": (self.spreading, gains),
                 "directions": (self.directions, gains)}
        return {name: end for name, (needed, end) in terms.items() if needed}


def _interpolation_end(frames: int, frame_samples: int) -> int:
    """Samples whose interpolation between frame centres reads only `frames` frames."""
    return max(0, frames * frame_samples - (frame_samples + 1) // 2)


def stage_prior(config, warped: torch.Tensor, mean: torch.Tensor | None = None,
                envelope_: torch.Tensor | None = None,
                spreading: torch.Tensor | None = None, *,
                heard: torch.Tensor | None = None) -> Prior:
    """A stage's prior from its conditions.

    Args:
        config: the stage's DenoiserConfig (its `prior` and `out_channels`).
        warped: (B, 2, T) the geometric warp.
        mean: (B, 1, T) the ears' mean; required by stage two's warp prior.
        envelope_: (B, 1, T) `envelope(mono)`; required by the "envelope" scale.
        spreading: (B, 2, T) `dsp.spreading_gain(positions)`; required by "attenuated_warp".
        heard: (B, 2, T) the learned head's ears (the warp, attenuated as the kind says, through
            the stage's `HeadFilter`); required with `head_taps`, and taken for the warp.

    Returns:
        The Prior.
    """
    prior = config.prior
    std = float(prior.scale)
    if prior.needs_envelope:
        if envelope_ is None:
            raise ValueError("an envelope-scaled prior needs the mono signal's envelope")
        std = prior.scale * envelope_
    if prior.kind == "zero":
        return Prior(None, std)
    if prior.head_taps:
        if heard is None:
            raise ValueError("a learned-head prior needs its head's ears (`heard`)")
        warped = heard
    elif prior.needs_spreading:
        if spreading is None:
            raise ValueError("an attenuated warp prior needs the ears' spreading gain")
        warped = warped * spreading
    warp_mean = warped.mean(dim=1, keepdim=True)
    if config.out_channels == 1:
        return Prior(prior.gain * warp_mean, std)
    if mean is None:
        raise ValueError("stage two's warp prior needs the mean condition")
    return Prior(prior.gain * (warped - warp_mean) + mean, std)
