"""TrainingConfig: one run's hyper-parameters (the paper's recipe by default), validated."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.io.atomic import write_text
from binauralgrad.models.config import DenoiserConfig
from binauralgrad.prior import FLAT_FIELDS, PriorConfig, accepts_flat_prior
from binauralgrad.view import VIEWS

MODEL_CONFIGS = ("paper", "small", "live", "tiny")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
NOISE_LEVELS = ("uniform", "fast")
LR_SCHEDULES = ("constant", "cosine")
MIN_CLIP_LENGTH = 1200  # the phase loss's 2048-bin centred STFT needs more than 1024 samples

# Sizes other than the paper's (30 layers, 128 channels, cycle 10). "small" trains in minutes on
# a CPU and is the package's embedded default; its receptive field (+-252 samples per pass)
# still spans the largest interaural delay. "tiny" is for tests: not for quality.
MODEL_SIZES = {
    "paper": {},
    "small": {"residual_layers": 12, "residual_channels": 32, "dilation_cycle_length": 6,
              "condition_channels": 40},
    # "small" at half the channels: the same receptive field (so the same stream latency) at
    # about a third of the arithmetic, which streams in real time on two CPU cores.
    "live": {"residual_layers": 12, "residual_channels": 16, "dilation_cycle_length": 6,
             "condition_channels": 24},
    "tiny": {"residual_layers": 4, "residual_channels": 8, "dilation_cycle_length": 2,
             "condition_channels": 16, "aux_output_every": 2},
}
TINY_SIZES = MODEL_SIZES["tiny"]


@accepts_flat_prior
@dataclass
class TrainingConfig:
    """Everything one training run needs; defaults follow the paper (Adam 2e-4, batch 48, 32000).

    Attributes:
        stage: 1 learns the mean of the ears; 2 learns both ears given the true mean.
        data_dir: the training split (sequence folders of the public layout).
        output_dir: where checkpoints, logs and the exported `denoiser/` go.
        model_config: "paper" (30 layers, 128 channels), "small", "live" or "tiny" (MODEL_SIZES).
        max_steps: optimizer steps to train (the run stops there; resuming continues to it).
        batch_size: the global batch, split over processes and accumulation micro-steps.
        learning_rate: Adam's (peak) learning rate.
        lr_schedule: "constant" (the paper's) or "cosine": decays from the peak to zero at
            max_steps.
        warmup_steps: the learning rate rises linearly from zero over these first steps.
        noise_levels: the training steps drawn: "uniform" over all training steps (the
            paper's), or "fast": only the six continuous steps the fast sampler visits.
        prior: what the stage diffuses, a `PriorConfig` (`DenoiserConfig.prior`, saved with
            it): the paper's signal by default, or the residual over the warp. The flat form
            (prior="warp", prior_std=, prior_scale=, prior_gain=: the command line's flags and
            older training_config.json files) is accepted too.
        clip_length: samples per training clip (a multiple of 400, the position frame).
        lambda_phase: weight of the auxiliary outputs' phase loss.
        lambda_clean: weight of the MSE between the clean latent that the noise prediction
            implies, (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar), and the true one: the
            noise MSE reweighted towards the high noise levels, where the output is decided.
        lambda_mrstft: weight of the multi-resolution STFT loss between that implied clean
            latent, decoded to the signal (prior mean + std z), and the target.
        view: what the model sees of the positions (`DenoiserConfig.view`).
        mixed_precision: "no", "fp16" or "bf16" (Accelerate's autocast and scaler); None takes
            the `accelerate launch` config's setting ("no" without one).
        gradient_accumulation_steps: micro-steps per optimizer step.
        max_grad_norm: clip gradients to this norm; None leaves them (the original did not clip).
        checkpoint_every: save a resumable checkpoint every this many steps (and at the end).
        keep_checkpoints: how many of the newest checkpoints rotation keeps.
        resume: None, "latest", or a checkpoint folder.
        seed: the seed of model initialisation, data order, crops, timesteps and noise.
        ema_decay: keep exponential-moving-average weights (exported instead of the raw ones).
        log_with: Accelerate trackers ("tensorboard", "wandb", ..., or "all").
        log_every: log the training terms every this many steps.
        validate_every: sample and score the held-out set every this many steps (0: never).
        validation_dir: the held-out split; needed when validate_every > 0.
        validation_clips, validation_clip_length: how many clips of how many samples to score.
        validation_temperature: the sampling temperature of the validation (the one the model
            will be sampled at, so that the curves show what it will give).
        push_to_hub: a Hub repo id to upload the exported denoiser to at the end.
        chunk_length, hop_length: how the dataset cuts sequences into rows (samples).
        num_workers: DataLoader worker processes.
        progress: show a progress bar on the main process.
    """

    stage: int
    data_dir: str
    output_dir: str
    model_config: str = "paper"
    max_steps: int = 300_000
    batch_size: int = 48
    learning_rate: float = 2e-4
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    noise_levels: str = "uniform"
    prior: PriorConfig = field(default_factory=PriorConfig)
    clip_length: int = 32000
    lambda_phase: float = 0.01
    lambda_clean: float = 0.0
    lambda_mrstft: float = 0.0
    view: str = "rows"
    mixed_precision: str | None = None
    gradient_accumulation_steps: int = 1
    max_grad_norm: float | None = None
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    resume: str | None = None
    seed: int = 0
    ema_decay: float | None = None
    log_with: list[str] = field(default_factory=list)
    log_every: int = 10
    validate_every: int = 0
    validation_dir: str | None = None
    validation_clips: int = 4
    validation_clip_length: int = 48000
    validation_temperature: float = 1.0
    push_to_hub: str | None = None
    chunk_length: int = 96000
    hop_length: int = 48000
    num_workers: int = 2
    progress: bool = True

    def __post_init__(self):
        self.data_dir, self.output_dir = os.fspath(self.data_dir), os.fspath(self.output_dir)
        if self.validation_dir is not None:
            self.validation_dir = os.fspath(self.validation_dir)
        self.log_with = [self.log_with] if isinstance(self.log_with, str) else list(self.log_with)
        _check_choice("stage", self.stage, (1, 2))
        _check_choice("model_config", self.model_config, MODEL_CONFIGS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("noise_levels", self.noise_levels, NOISE_LEVELS)
        self.prior = PriorConfig.coerce(self.prior)
        _check_choice("view", self.view, VIEWS)
        if self.mixed_precision is not None:
            _check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISIONS)
        for name in ("max_steps", "batch_size", "clip_length", "gradient_accumulation_steps",
                     "checkpoint_every", "keep_checkpoints", "log_every", "validation_clips",
                     "validation_clip_length", "chunk_length", "hop_length"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("seed", "validate_every", "num_workers", "warmup_steps"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value > 0):
                raise ValueError(f"TrainingConfig.{name} must be a positive number, got {value!r}")
        if not (_is_number(self.validation_temperature) and
                0 <= self.validation_temperature <= 1):
            raise ValueError("TrainingConfig.validation_temperature must lie in [0, 1], got "
                             f"{self.validation_temperature!r}")
        for name in ("lambda_phase", "lambda_clean", "lambda_mrstft"):
            value = getattr(self, name)
            if not (_is_number(value) and value >= 0):
                raise ValueError(f"TrainingConfig.{name} must be >= 0, got {value!r}")
        if self.ema_decay is not None and not (_is_number(self.ema_decay) and
                                               0 < self.ema_decay < 1):
            raise ValueError(f"TrainingConfig.ema_decay must lie in (0, 1), got {self.ema_decay!r}")
        self._check_lengths()
        if self.batch_size % self.gradient_accumulation_steps:
            raise ValueError(f"TrainingConfig.batch_size {self.batch_size} is not divisible by "
                             f"gradient_accumulation_steps {self.gradient_accumulation_steps}")
        if self.validate_every and not self.validation_dir:
            raise ValueError(f"TrainingConfig.validate_every={self.validate_every} needs a "
                             "validation_dir (the held-out set)")
        if not all(isinstance(name, str) and name for name in self.log_with):
            raise ValueError(f"TrainingConfig.log_with must be tracker names, "
                             f"got {self.log_with!r}")

    def _check_lengths(self) -> None:
        for name in ("clip_length", "validation_clip_length", "chunk_length", "hop_length"):
            value = getattr(self, name)
            if value % FRAME_SAMPLES or (name != "hop_length" and value < MIN_CLIP_LENGTH):
                raise ValueError(f"TrainingConfig.{name} must be a multiple of {FRAME_SAMPLES}"
                                 f" of at least {MIN_CLIP_LENGTH} samples, got {value}")
        if self.clip_length > self.chunk_length:
            raise ValueError(f"TrainingConfig.clip_length {self.clip_length} exceeds the dataset "
                             f"rows' chunk_length {self.chunk_length}")
        if self.validate_every and self.validation_clip_length > self.chunk_length:
            raise ValueError(f"TrainingConfig.validation_clip_length {self.validation_clip_length}"
                             f" exceeds chunk_length {self.chunk_length}")

    @property
    def micro_batch_size(self) -> int:
        """Items per accumulation micro-step, over all processes together."""
        return self.batch_size // self.gradient_accumulation_steps

    def denoiser_config(self) -> DenoiserConfig:
        """The model this run trains: the stage's preset at paper or tiny size."""
        preset = DenoiserConfig.stage_one if self.stage == 1 else DenoiserConfig.stage_two
        return preset(**MODEL_SIZES[self.model_config], prior=self.prior, view=self.view)

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0-based): warm-up, then the schedule."""
        factor = 1.0
        if step < self.warmup_steps:
            factor = (step + 1) / self.warmup_steps
        elif self.lr_schedule == "cosine":
            done = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
            factor = 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
        return self.learning_rate * factor

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        known = {item.name for item in fields(cls)} | set(FLAT_FIELDS)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainingConfig field(s): {unknown}")
        return cls(**values)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the config as JSON, atomically (replacing an earlier one)."""
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n", overwrite=True)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"TrainingConfig.{name} must be an integer >= {minimum}, got {value!r}")


def _check_choice(name: str, value, choices: tuple) -> None:
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"TrainingConfig.{name} must be one of {list(choices)}, got {value!r}")
