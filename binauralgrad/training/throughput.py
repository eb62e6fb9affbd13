"""Training throughput of a denoiser: forward, loss, backward and Adam step on random audio."""

from __future__ import annotations

import time

import torch

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.models.denoiser import BinauralDenoiser, DenoiserConfig
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training.config import MODEL_CONFIGS, MODEL_SIZES
from binauralgrad.training.losses import diffusion_loss


def random_batch(batch_size: int, clip_length: int, generator: torch.Generator,
                 device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A batch of the training tensors' shapes filled with small white noise."""
    frames = clip_length // FRAME_SAMPLES
    def noise(*shape: int) -> torch.Tensor:
        return 0.1 * torch.randn(shape, generator=generator)

    batch = {"mono": noise(batch_size, 1, clip_length), "warped": noise(batch_size, 2, clip_length),
             "binaural": noise(batch_size, 2, clip_length),
             "positions": noise(batch_size, 7, frames) + 1.0}
    batch["mean"] = batch["binaural"].mean(dim=1, keepdim=True)
    return {key: value.to(device) for key, value in batch.items()}


def measure_training_throughput(config: DenoiserConfig | str, batch_size: int, clip_length: int,
                                steps: int, *, stage: int = 1, warmup: int = 1,
                                device: str | torch.device = "cpu", seed: int = 0) -> dict:
    """Times training steps of a denoiser (the full loss, phase term included) on one device.

    Args:
        config: a DenoiserConfig (its `out_channels` picks the stage), or "paper" / "small" / "tiny"
            (the training presets, of stage `stage`).
        batch_size: items per step on this device.
        clip_length: samples per item (a multiple of 400, more than 1024).
        steps: timed steps, after `warmup` untimed ones.
        stage: 1 or 2, for a preset name.
        warmup: untimed steps first (allocator, kernels, caches).
        device: where to train.
        seed: seed of the weights, batch, timesteps and noise.

    Returns:
        {"samples_per_s", "steps_per_s", "seconds_per_step", "batch_size", "clip_length",
         "steps", "parameters", "device", "stage"}.
    """
    if clip_length % FRAME_SAMPLES or clip_length <= 1024:
        raise ValueError(f"clip_length must be a multiple of {FRAME_SAMPLES} above 1024, "
                         f"got {clip_length}")
    if batch_size < 1 or steps < 1 or warmup < 0:
        raise ValueError(f"need batch_size >= 1, steps >= 1, warmup >= 0; got {batch_size}, "
                         f"{steps}, {warmup}")
    if isinstance(config, str):
        config = _preset(config, stage)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BinauralDenoiser(config).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    stage = config.out_channels
    schedule = NoiseSchedule()
    batch = random_batch(batch_size, clip_length, generator, device)

    def step() -> None:
        timesteps = torch.randint(config.num_train_steps, (batch_size,), generator=generator)
        noise = torch.randn(batch_size, stage, clip_length, generator=generator)
        loss = diffusion_loss(model, batch, timesteps.to(device), noise.to(device), schedule,
                              stage=stage)
        loss.total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    return {"samples_per_s": batch_size / seconds, "steps_per_s": 1.0 / seconds,
            "seconds_per_step": seconds, "batch_size": batch_size, "clip_length": clip_length,
            "steps": steps, "parameters": sum(p.numel() for p in model.parameters()),
            "device": str(device), "stage": stage}


def _preset(name: str, stage: int) -> DenoiserConfig:
    if name not in MODEL_CONFIGS or stage not in (1, 2):
        raise ValueError(f"config must be a DenoiserConfig or one of {list(MODEL_CONFIGS)} with "
                         f"stage 1 or 2, got {name!r}, stage {stage!r}")
    preset = DenoiserConfig.stage_one if stage == 1 else DenoiserConfig.stage_two
    return preset(**MODEL_SIZES[name])


def _synchronize(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
