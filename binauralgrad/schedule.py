"""Diffusion noise schedules: training betas, the fast sampler's steps and the reverse update."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from binauralgrad.prior import Prior

# The sampling schedules: the fast one (the paper's 6 steps, or fewer: `fast_steps`) or every
# training step; a number asks for the fast schedule with that many steps.
STEPS = ("fast", "full")


def _paper_train_betas() -> list[float]:
    return np.linspace(1e-4, 0.02, 200).tolist()


def _paper_fast_betas() -> list[float]:
    return [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]


def check_steps(steps):
    """`steps` if it names a sampling schedule ("fast", "full" or a number of fast steps)."""
    if steps in STEPS or (isinstance(steps, numbers.Integral) and not isinstance(steps, bool)
                          and steps >= 1):
        return steps
    raise ValueError(f"steps must be one of {list(STEPS)} or a number of fast steps (1 to 6 "
                     f"with the paper's schedule), got {steps!r}")


def kept_levels(total: int, count: int) -> list[int]:
    """Which of a `total`-step fast schedule's noise levels (0: the cleanest) `count` steps visit.

    An even stride that ends at the noisiest level, so that sampling starts where the full fast
    schedule does (the initial unit noise stands for the same level), and the cleanest levels
    are the first left out: they change the output least (the paper's last step, at
    alpha_bar = 0.9999, removes noise of about 1 % of full scale; a 2-step schedule keeping it
    would be the 1-step one plus that). With the paper's six levels, numbered 1 (cleanest) to 6:
    5 steps visit 2-6; 4 steps 2, 3, 5, 6; 3 steps 2, 4, 6; 2 steps 3, 6; 1 step 6.
    """
    if not 1 <= count <= total:
        raise ValueError(f"a fast schedule of {total} steps can be shortened to 1 to {total} "
                         f"steps, not {count!r}")
    return [-(-(k + 1) * total // count) - 1 for k in range(count)]  # ceil((k + 1) total / count)


@dataclass(frozen=True)
class SamplingStep:
    """One reverse step n of a sampling schedule.

    Attributes:
        index: n, counting down to 0 while sampling.
        timestep: the denoiser's step input: the training step itself for the full schedule, the
            continuous, aligned training step for the fast one.
        noise_scale: c2 = beta_n / sqrt(1 - alpha_bar_n), the weight of the predicted noise.
        sample_scale: c1 = 1 / sqrt(1 - beta_n).
        sigma: standard deviation of the fresh noise added after this step (0 at n = 0).
    """

    index: int
    timestep: float
    noise_scale: float
    sample_scale: float
    sigma: float

    def timestep_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """(1,) the denoiser's step input: float32 for an aligned step, long for a training one."""
        dtype = torch.long if isinstance(self.timestep, numbers.Integral) else torch.float32
        return torch.tensor([self.timestep], dtype=dtype, device=device)


@dataclass
class NoiseSchedule:
    """Training betas and the fast sampling betas (the paper's values by default).

    Attributes:
        train_betas: the variances beta_1..beta_N of the forward process (paper Eq. 1).
        fast_betas: the short schedule used for fast sampling (the paper's 6 steps).
        temperature: the sampling noise's standard deviation, initial and added (1: the
            paper's ancestral sampler). Below 1 the samples lean towards the likeliest signal
            (as Grad-TTS and PriorGrad sample), trading variety for lower error.
        fast_steps: reverse steps per stage that fast sampling takes, 1 to len(fast_betas)
            (None: all of them). Fewer steps visit fewer of the fast levels (`kept_levels`),
            each step jumping over the levels left out (`fast_schedule_betas`).
    """

    train_betas: list[float] = field(default_factory=_paper_train_betas)
    fast_betas: list[float] = field(default_factory=_paper_fast_betas)
    temperature: float = 1.0
    fast_steps: int | None = None

    def __post_init__(self):
        for name in ("train_betas", "fast_betas"):
            betas = np.asarray(getattr(self, name), dtype=np.float64)
            if betas.ndim != 1 or len(betas) < 1 or not np.all((betas > 0) & (betas < 1)):
                raise ValueError(f"NoiseSchedule.{name} must be a non-empty list of values "
                                 f"in (0, 1), got {getattr(self, name)!r}")
            setattr(self, name, betas.tolist())
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not 0 <= self.temperature <= 1:
            raise ValueError(f"NoiseSchedule.temperature must lie in [0, 1], "
                             f"got {self.temperature!r}")
        if self.fast_alphas_cumprod[-1] < self.train_alphas_cumprod[-1]:
            raise ValueError("the fast schedule must end at a noise level the training schedule "
                             "reaches (its alpha_bar above the training schedule's last)")
        if self.fast_steps is None:
            self.fast_steps = len(self.fast_betas)
        if isinstance(self.fast_steps, bool) or not isinstance(self.fast_steps, numbers.Integral) \
                or not 1 <= self.fast_steps <= len(self.fast_betas):
            raise ValueError(f"NoiseSchedule.fast_steps must be an int from 1 to "
                             f"{len(self.fast_betas)} (the fast betas), got {self.fast_steps!r}")
        self.fast_steps = int(self.fast_steps)

    @property
    def num_train_steps(self) -> int:
        return len(self.train_betas)

    @property
    def train_alphas_cumprod(self) -> np.ndarray:
        """alpha_bar_t = prod_{s <= t} (1 - beta_s) of the training schedule, float64."""
        return np.cumprod(1.0 - np.asarray(self.train_betas))

    @property
    def fast_alphas_cumprod(self) -> np.ndarray:
        return np.cumprod(1.0 - np.asarray(self.fast_betas))

    def to_dict(self) -> dict:
        return asdict(self)

    def alpha_bars(self, timesteps: torch.Tensor) -> torch.Tensor:
        """alpha_bar at training steps, integer or continuous, float32 like `timesteps`' device.

        A fractional step t between the training steps floor(t) and floor(t) + 1 has the
        sqrt(alpha_bar) that lies that far along the line between theirs: the inverse of the fast
        sampler's step alignment, so the aligned step of a fast level gives back that level.
        """
        timesteps = torch.as_tensor(timesteps)
        table = torch.as_tensor(self.train_alphas_cumprod, dtype=torch.float64,
                                device=timesteps.device)
        if not timesteps.is_floating_point():
            return table[timesteps].float()
        if timesteps.min() < 0 or timesteps.max() > self.num_train_steps - 1:
            raise ValueError(f"timesteps must lie in [0, {self.num_train_steps - 1}], "
                             f"got {timesteps.tolist()}")
        low = timesteps.double().floor().long().clamp(max=self.num_train_steps - 2)
        weight = timesteps.double() - low
        root = table[low].sqrt() + weight * (table[low + 1].sqrt() - table[low].sqrt())
        return (root ** 2).float()

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor,
                  timesteps: torch.Tensor) -> torch.Tensor:
        """The forward process q(x_t | x_0) = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.

        Args:
            clean: (B, C, T) clean signal x_0.
            noise: (B, C, T) unit Gaussian noise eps.
            timesteps: (B,) training steps: integers, or continuous steps (see `alpha_bars`).

        Returns:
            (B, C, T) noisy signal, in clean's dtype.
        """
        if clean.shape != noise.shape:
            raise ValueError(f"clean {tuple(clean.shape)} and noise {tuple(noise.shape)} differ")
        timesteps = torch.as_tensor(timesteps, device=clean.device)
        if timesteps.shape != (clean.shape[0],):
            raise ValueError(f"timesteps must be (B,) with B={clean.shape[0]}, "
                             f"got {tuple(timesteps.shape)}")
        alpha_bar = self.alpha_bars(timesteps).view(-1, 1, 1)
        return (alpha_bar.sqrt() * clean + (1.0 - alpha_bar).sqrt() * noise).to(clean.dtype)

    def fast_schedule_betas(self, count: int | None = None) -> list[float]:
        """The betas of the fast schedule shortened to `count` steps (default `fast_steps`).

        The short schedule visits `kept_levels` of the fast schedule's noise levels alpha_bar,
        so it ends at the same total noise level (as DiffWave's fast schedules end near the
        training schedule's), and the models are asked only at levels the 6-step sampler asks
        them at (a model trained on the fast levels, `noise_levels="fast"`, has seen them all).
        A step over several fast steps has the beta of their product:
        1 - prod(1 - beta); a step over one keeps its beta exactly.
        """
        count = self.fast_steps if count is None else count
        betas = self.fast_betas
        merged, first = [], 0
        for level in kept_levels(len(betas), count):
            group = np.asarray(betas[first: level + 1])
            merged.append(betas[level] if len(group) == 1 else 1.0 - float(np.prod(1.0 - group)))
            first = level + 1
        return merged

    def fast_timesteps(self, count: int | None = None) -> list[float]:
        """The continuous training step aligned with each fast step (paper Sec. 3.3).

        Fast step s, with noise level alpha_bar_s between the training levels t and t+1, maps to
        t + (sqrt(alpha_bar_train[t]) - sqrt(alpha_bar_s)) /
                (sqrt(alpha_bar_train[t]) - sqrt(alpha_bar_train[t + 1])).

        Args:
            count: steps of the fast schedule (default `fast_steps`; see `fast_schedule_betas`).
        """
        return self._aligned(np.cumprod(1.0 - np.asarray(self.fast_schedule_betas(count))))

    def _aligned(self, levels: np.ndarray) -> list[float]:
        """`fast_timesteps` of the noise levels alpha_bar of a fast schedule's steps."""
        train = self.train_alphas_cumprod
        steps = []
        for level in levels:
            for t in range(len(train) - 1):
                if train[t + 1] <= level <= train[t]:
                    gap = train[t] ** 0.5 - train[t + 1] ** 0.5
                    twiddle = (train[t] ** 0.5 - level ** 0.5) / gap
                    steps.append(t + twiddle)
                    break
            else:
                raise ValueError(f"fast noise level {level} is outside the training schedule")
        return steps

    def sampling_steps(self, steps: str | int = "fast") -> list[SamplingStep]:
        """The reverse steps in the order they run (n = N-1 down to 0).

        Args:
            steps: "fast", the fast schedule with `fast_steps` steps (default; the paper's 6),
                a number of fast steps (`fast_schedule_betas`), or "full", all training steps.
        """
        if isinstance(steps, bool):  # the old `fast` flag
            import warnings

            warnings.warn("sampling_steps(True/False) is deprecated: pass steps='fast' or "
                          "'full'", DeprecationWarning, stacklevel=2)
            steps = "fast" if steps else "full"
        steps = check_steps(steps)
        full = steps == "full"
        betas = np.asarray(self.train_betas if full else
                           self.fast_schedule_betas(None if steps == "fast" else steps))
        alpha_bars = np.cumprod(1.0 - betas)
        timesteps = list(range(len(betas))) if full else self._aligned(alpha_bars)
        steps = []
        for n in reversed(range(len(betas))):
            sigma = 0.0
            if n > 0:
                sigma = self.temperature * math.sqrt(
                    (1.0 - alpha_bars[n - 1]) / (1.0 - alpha_bars[n]) * betas[n])
            steps.append(SamplingStep(
                index=n, timestep=timesteps[n],
                noise_scale=betas[n] / math.sqrt(1.0 - alpha_bars[n]),
                sample_scale=1.0 / math.sqrt(1.0 - betas[n]), sigma=sigma,
            ))
        return steps

    @staticmethod
    def reverse_step(sample: torch.Tensor, predicted_noise: torch.Tensor, step: SamplingStep,
                     noise: torch.Tensor | None = None, *, prior: Prior | None = None
                     ) -> torch.Tensor:
        """One ancestral step x_n -> x_{n-1} (paper Eq. 3), clamped as the original.

        The original clamps the signal to [-1, 1]. A stage that diffuses a latent
        z = (signal - mean) / std (see `binauralgrad.prior`) is clamped so that
        the signal it stands for stays in [-1, 1]: the same clamp, in its own coordinates.

        Args:
            sample: (B, C, T) x_n (or the same values in any layout the other tensors share).
            predicted_noise: like `sample`, the denoiser's eps for x_n.
            step: the step's coefficients.
            noise: like `sample`, fresh unit Gaussian noise; required when step.sigma > 0.
            prior: the latent's prior, laid out like `sample` (None: the signal itself).
        """
        sample = step.sample_scale * (sample - step.noise_scale * predicted_noise)
        if step.sigma > 0:
            if noise is None:
                raise ValueError(f"step {step.index} adds noise, but none was given")
            sample = sample + step.sigma * noise
        if prior is None or prior.is_identity:
            return sample.clamp(-1.0, 1.0)
        return prior.encode(prior.decode(sample).clamp(-1.0, 1.0))
