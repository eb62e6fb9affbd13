"""DenoiserConfig: the sizes, stage and prior of a denoiser (plain data; importing it is cheap)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.prior import FLAT_FIELDS, PriorConfig, accepts_flat_prior
from binauralgrad.view import VIEWS

# The condition encoder: k=3 convolutions, two per input branch, then one over both.
ENCODER_KERNEL = 3
ENCODER_DEPTH = 3


@accepts_flat_prior
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
        prior: what the stage diffuses, a `binauralgrad.prior.PriorConfig`: the signal
            itself (the default, the paper's) or its scaled residual over a DSP prior. The
            sampler reads it from here, so a saved model samples as it was trained. Saved
            nested; the flat form of older files (`prior` the kind's name, `prior_std`,
            `prior_scale`, `prior_gain`) is accepted as keyword arguments.
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
    prior: PriorConfig = field(default_factory=PriorConfig)
    view: str = "rows"

    @property
    def diffuses_signal(self) -> bool:
        """Whether the stage diffuses the signal itself (the paper's), not a prior's latent."""
        return self.prior.is_identity

    @property
    def pass_reach(self) -> int:
        """Samples each side of an output sample that one pass of the residual stack reads."""
        return sum(self.dilations)

    def stage_reach(self, num_steps: int) -> int:
        """Samples each side that a stage of `num_steps` passes reads, its encoder included."""
        return num_steps * self.pass_reach + self.encoder_reach

    @property
    def encoder_reach(self) -> int:
        """Samples each side of an output sample that the condition encoder reads."""
        return ENCODER_DEPTH * (ENCODER_KERNEL // 2)

    @property
    def dilations(self) -> list[int]:
        """Each residual layer's dilation: 1, 2, 4, ..., restarting every dilation_cycle_length."""
        return [2 ** (i % self.dilation_cycle_length) for i in range(self.residual_layers)]

    def __post_init__(self):
        self.prior = PriorConfig.coerce(self.prior)
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
        """The saved form (the prior nested)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DenoiserConfig:
        """From `to_dict`'s form or the flat one of older files; unknown keys are an error."""
        known = {item.name for item in fields(cls)} | set(FLAT_FIELDS)
        if not isinstance(values, dict) or set(values) - known:
            extra = sorted(set(values) - known) if isinstance(values, dict) else values
            raise ValueError(f"not a DenoiserConfig (unexpected: {extra})")
        return cls(**values)

