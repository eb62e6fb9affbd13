"""Timing the fast path: whole-wavefront probes of a pipeline's stages, runs taking turns."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import torch

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.dsp import geometric_warp
from binauralgrad.inference.buffers import BufferPool
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.sources import Windows
from binauralgrad.inference.wavefront import run_wavefront
from binauralgrad.prior import PriorTerms
from binauralgrad.schedule import NoiseSchedule

MIN_ROUNDS, MAX_ROUNDS = 2, 9  # the fastest of two runs already drops a cold first one


def round_robin(runs: dict[Hashable, Callable[[], object]], *, budget_s: float,
                timer: Callable[[], float] = time.perf_counter, min_rounds: int = MIN_ROUNDS,
                max_rounds: int = MAX_ROUNDS,
                on_run: Callable[[], object] = lambda: None) -> dict[Hashable, list[float]]:
    """Times every run once a round, in the same order each round, for at least `min_rounds`
    rounds and then as many more (up to `max_rounds`) as fit in `budget_s` at the average
    round's length so far.

    The runs take turns, so a slow spell of a shared machine falls on all of them, not on
    whichever ran through it.

    Returns:
        {key: seconds of each of its runs, in round order}.
    """
    times = {key: [] for key in runs}
    began = timer()
    for done in range(max_rounds):
        spent = timer() - began
        if done >= min_rounds and spent * (done + 1) / done > budget_s:
            break
        for key, run in runs.items():
            start = timer()
            run()
            times[key].append(timer() - start)
            on_run()
    return times


class WavefrontProbe:
    """Short whole wavefronts of a pipeline's two stages over one fixed synthetic input.

    Args:
        stages: the pipeline's (stage one, stage two) denoisers, folded here once per backend.
        dtype: the compute dtype. backends: the kernels to run ("mkldnn", "matmul").
        length: samples of the input (the longest run's).
    """

    def __init__(self, stages, dtype: torch.dtype, backends: list[str], length: int):
        configs = [stage.config for stage in stages]
        frames = -(-length // FRAME_SAMPLES)
        generator = torch.Generator().manual_seed(0)
        self.mono = 0.1 * torch.randn(1, 1, frames * FRAME_SAMPLES, generator=generator)
        # A talker standing 1.1 m away: the values do not change the work, only the shapes do.
        self.positions = torch.tensor([1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0]).view(1, 7, 1) \
            .repeat(1, 1, frames)
        self.warped = geometric_warp(self.mono, self.positions)
        self.terms = PriorTerms(configs).whole(self.mono, self.positions,
                                               configs[0].frame_samples)
        self.folded = {backend: [FoldedDenoiser(stage, dtype=dtype, device="cpu", backend=backend)
                                 for stage in stages] for backend in backends}
        # Each candidate keeps its buffers from run to run, as a pipeline does from call to call:
        # fresh ones would time page faults rather than the candidate.
        self.buffers: dict[tuple, BufferPool] = {}

    @torch.inference_mode()
    def run(self, backend: str, cache: bool, *, tile: int, length: int, steps: int) -> None:
        """Both stages, `steps` passes each, over the input's first `length` samples."""
        windows = Windows(self.warped, self.mono, self.positions, [0], [0], length, *self.terms)
        pool = self.buffers.setdefault((backend, cache, tile, length, steps), BufferPool())
        with pool.lease() as allocator:
            run_wavefront(*self.folded[backend], NoiseSchedule().sampling_steps(steps), windows,
                          PositionalNoise(0), tile=tile, cache=cache, allocator=allocator)
