"""The wavefront over whole inputs or chunk windows, in groups that fit the memory budget."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from binauralgrad.inference.backends import select
from binauralgrad.inference.buffers import BufferPool
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.plan import WavefrontOptions, plan_batches, stitch
from binauralgrad.inference.sources import Windows
from binauralgrad.inference.wavefront import run_wavefront
from binauralgrad.models.denoiser import BinauralDenoiser
from binauralgrad.prior import PriorTerms
from binauralgrad.schedule import NoiseSchedule


def sample_wavefront(stage_one: BinauralDenoiser, stage_two: BinauralDenoiser,
                     schedule: NoiseSchedule, mono: torch.Tensor, positions: torch.Tensor,
                     warped: torch.Tensor, noise: PositionalNoise, *, steps: str | int = "fast",
                     progress: bool = True, options: WavefrontOptions | None = None,
                     buffers: BufferPool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Both stages through the wavefront, over each input whole or in the chunks of `options`.

    Args:
        stage_one, stage_two: the pipeline's denoisers (folded here, left unchanged).
        schedule: the noise schedule.
        mono: (B, 1, T), positions: (B, 7, K), warped: (B, 2, T) the prepared inputs.
        noise: the positional noise (the reference draws the same).
        steps: "fast" (the schedule's fast steps), a number of fast steps, or "full" (every
            training step): see `NoiseSchedule.sampling_steps`.
        progress: show a progress bar.
        options: dtype, tile, chunks, memory budget (default: WavefrontOptions()).
        buffers: where the wavefront's large buffers are kept for the next call (a pipeline's
            own pool); without one they are still reused across this call's window groups.

    Returns:
        (mean (B, 1, T), binaural (B, 2, T)) float32.
    """
    options = options or WavefrontOptions()
    sampling = schedule.sampling_steps(steps)
    backend = select(mono.device, options.dtype, stages=(stage_one, stage_two),
                     num_steps=len(sampling), max_memory_mb=options.max_memory_mb,
                     progress=progress)
    models = [FoldedDenoiser(stage, dtype=backend.dtype, backend=backend.kernels)
              for stage in (stage_one, stage_two)]
    batch, length = mono.shape[0], mono.shape[-1]
    plan = options.plan(length)
    windows = [(item, start) for item in range(batch) for start in plan.starts]
    configs = [stage_one.config, stage_two.config]
    tile, cache, group = plan_batches(
        configs, len(sampling), plan.window, len(windows), backend,
        tile_seconds=options.tile_seconds,
        element_bytes=torch.empty(0, dtype=backend.dtype).element_size())
    whole = PriorTerms(configs).whole(mono, positions, stage_one.config.frame_samples)
    warped, results = warped.float(), []
    pool = buffers or BufferPool()
    with tqdm(total=len(windows) * plan.window, desc="BinauralGrad", unit="sample",
              disable=not progress) as bar:
        for offset in range(0, len(windows), group):
            rows = windows[offset: offset + group]
            chosen = Windows(warped, mono, positions, [item for item, _ in rows],
                             [start for _, start in rows], plan.window, *whole)
            with pool.lease() as allocator:
                mean, audio = run_wavefront(*models, sampling, chosen, noise, tile=tile,
                                            cache=cache, on_progress=_Progress(bar, len(rows)),
                                            initial_scale=schedule.temperature,
                                            allocator=allocator)
            results.append(torch.cat([mean, audio], dim=1))
    joined = torch.cat(results)
    if len(plan) > 1:
        joined = stitch(joined.reshape(batch, len(plan), 3, -1).transpose(0, 1), plan)
    return joined[:, :1], joined[:, 1:]


class _Progress:
    """Turns one window group's output frontier into progress-bar samples."""

    def __init__(self, bar: tqdm, windows: int):
        self.bar, self.windows, self.reported = bar, windows, 0

    def __call__(self, done: int) -> None:
        self.bar.update((done - self.reported) * self.windows)
        self.reported = done
