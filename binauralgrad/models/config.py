"""DenoiserConfig: the sizes, stage and prior of a denoiser (plain data; importing it is cheap)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.prior import PRIOR_STDS, PRIORS
from binauralgrad.view import VIEWS

# The condition encoder: k=3 convolutions, two per input branch, then one over both.
ENCODER_KERNEL = 3
ENCODER_DEPTH = 3


@dataclass
class DenoiserConfig:
    """Sizes and stage of a denoiser; the defaults are the paper's stage-one model.

    Attributes:
        out_channels: 1 for stage one (the mean of the ears), 2 for stage two (both ears).
        use_mean_condition: whether the ears' mean (stage one's output) is a condition.
        residual_layers, residual_channels, dilation_cycle_length: the WaveNet's size; layer i
            has dilation 2 ** (i % dilation_cycle_length).
        condition_channels: width of the encoded condition (mono + warp + positions).
        num_train_steps: diffusion steps of the training schedule (rows of the step table).
        aux_output_every: an auxiliary output (for the training loss) every this many layers.
        frame_samples: audio samples per position row (48 kHz audio, 120 Hz tracking).
        prior, prior_std, prior_scale: what the stage diffuses (see `binauralgrad.prior`):
            the signal itself ("zero", "constant", 1.0: the paper's), or (signal - prior mean)
            / (prior_scale, or prior_scale times the mono signal's envelope); the warp prior
            is the warp times prior_gain (the ears' level over the mono microphone's). The
            sampler reads them from here, so a saved model samples as it was trained.
        view: what the condition encoder sees of the positions (`binauralgrad.view`): the
            tracking rows ("rows", the paper's) or the geometry at the listener's head ("ears").
    """

    out_channels: int = 1
    use_mean_condition: bool = False
    residual_layers: int = 30
    residual_channels: int = 128
    dilation_cycle_length: int = 10
    condition_channels: int = 80
    num_train_steps: int = 200
    aux_output_every: int = 3
    frame_samples: int = FRAME_SAMPLES
    prior: str = "zero"
    prior_std: str = "constant"
    prior_scale: float = 1.0
    prior_gain: float = 1.0
    view: str = "rows"

    @property
    def diffuses_signal(self) -> bool:
        """Whether the stage diffuses the signal itself (the paper's), not a prior's latent."""
        return self.prior == "zero" and self.prior_std == "constant" and self.prior_scale == 1.0

    @property
    def encoder_reach(self) -> int:
        """Samples each side of an output sample that the condition encoder reads."""
        return ENCODER_DEPTH * (ENCODER_KERNEL // 2)

    @property
    def dilations(self) -> list[int]:
        """Each residual layer's dilation: 1, 2, 4, ..., restarting every dilation_cycle_length."""
        return [2 ** (i % self.dilation_cycle_length) for i in range(self.residual_layers)]

    def __post_init__(self):
        for name in ("out_channels", "residual_layers", "residual_channels",
                     "dilation_cycle_length", "num_train_steps", "aux_output_every",
                     "frame_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DenoiserConfig.{name} must be a positive integer, got {value!r}")
        if self.out_channels not in (1, 2):
            raise ValueError(f"DenoiserConfig.out_channels must be 1 or 2, got {self.out_channels}")
        if not isinstance(self.condition_channels, int) or self.condition_channels % 4 or \
                self.condition_channels < 4:
            raise ValueError("DenoiserConfig.condition_channels must be a positive multiple of 4,"
                             f" got {self.condition_channels!r}")
        if self.prior not in PRIORS:
            raise ValueError(f"DenoiserConfig.prior must be one of {list(PRIORS)}, "
                             f"got {self.prior!r}")
        if self.prior_std not in PRIOR_STDS:
            raise ValueError(f"DenoiserConfig.prior_std must be one of {list(PRIOR_STDS)}, "
                             f"got {self.prior_std!r}")
        for name in ("prior_scale", "prior_gain"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 < value < math.inf:
                raise ValueError(f"DenoiserConfig.{name} must be a positive number, "
                                 f"got {value!r}")
        if self.view not in VIEWS:
            raise ValueError(f"DenoiserConfig.view must be one of {list(VIEWS)}, got {self.view!r}")
        if not isinstance(self.use_mean_condition, bool):
            raise ValueError(f"DenoiserConfig.use_mean_condition must be a bool, got "
                             f"{self.use_mean_condition!r}")

    @classmethod
    def stage_one(cls, **overrides) -> DenoiserConfig:
        """The paper's stage one: predicts the mean of the two ears."""
        return cls(**{"out_channels": 1, "use_mean_condition": False, **overrides})

    @classmethod
    def stage_two(cls, **overrides) -> DenoiserConfig:
        """The paper's stage two: predicts both ears, conditioned on the mean."""
        return cls(**{"out_channels": 2, "use_mean_condition": True, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)
