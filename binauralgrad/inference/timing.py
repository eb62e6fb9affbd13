"""Timing the fast path: whole-wavefront probes of a pipeline's stages, runs taking turns."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Hashable, Mapping

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

MIN_ROUNDS, MAX_ROUNDS = 2, 9  # the first round is cold; the second is the first ranked one


def turn_order(keys: list, round_index: int) -> list:
    """The order in which `keys` take their turn in round `round_index`: as given, every other
    round reversed, so that a machine speeding up or slowing down through the rounds does not
    favour the first, and none always runs right after the same one."""
    return list(keys) if round_index % 2 == 0 else list(reversed(keys))


def round_robin(runs: dict[Hashable, Callable[[], object]], *, budget_s: float,
                timer: Callable[[], float] = time.perf_counter, min_rounds: int = MIN_ROUNDS,
                max_rounds: int = MAX_ROUNDS, drop_above: float | None = None,
                work: Mapping[Hashable, float] | None = None,
                on_run: Callable[[], object] = lambda: None) -> dict[Hashable, list[float]]:
    """Times every run once a round for at least `min_rounds` rounds and then as many more (up to
    `max_rounds`) as fit in `budget_s`.

    The runs take turns, so a slow or fast spell of a shared machine falls on all of them, not
    on whichever ran through it, in `turn_order`.

    With `drop_above`, a run that was more than that behind the round's fastest (per unit of
    `work`) in every warm round leaves the turns after `min_rounds`: the rest of the budget goes
    to the close contenders, and the rounds end when one is left. Its best round decides, not
    its median: one hiccup in a run's few rounds must not send the fastest candidate away, while
    a slow one that had a lucky round only stays in the turns longer (the ranking is
    `relative_scores`' median).

    Returns:
        {key: seconds of each of its runs, in round order}.
    """
    times = {key: [] for key in runs}
    active = list(runs)
    began = timer()
    for done in range(max_rounds):
        if done >= min_rounds:
            if drop_above is not None:
                ratios = round_ratios({key: times[key] for key in active}, work)
                active = [key for key in active if min(ratios[key]) <= drop_above]
            # The next round at its runs' last lengths: a cold first run would overstate it.
            upcoming = sum(times[key][-1] for key in active)
            if (drop_above is not None and len(active) < 2) or \
                    timer() - began + upcoming > budget_s:
                break
        for key in turn_order(active, done):
            start = timer()
            runs[key]()
            times[key].append(timer() - start)
            on_run()
    return times


def round_ratios(times: Mapping[Hashable, list[float]],
                 work: Mapping[Hashable, float] | None = None) -> dict[Hashable, list[float]]:
    """Each run's time (per unit of its `work`) over the fastest's in the same round, for the
    warm rounds (all but the first, a cold one, where there are more).

    Args:
        times: {key: seconds per round, in round order} (`round_robin`'s; a key that left the
            turns has fewer rounds).
        work: {key: units of work per run} (samples); 1 each if None.
    """
    cost = {key: [seconds / (work[key] if work else 1.0) for seconds in runs]
            for key, runs in times.items()}
    rounds = max(len(runs) for runs in cost.values())
    fastest = [min(runs[index] for runs in cost.values() if len(runs) > index)
               for index in range(rounds)]
    first = 1 if rounds > 1 else 0
    return {key: [runs[index] / fastest[index] for index in range(first, len(runs))]
            for key, runs in cost.items()}


def relative_scores(times: Mapping[Hashable, list[float]],
                    work: Mapping[Hashable, float] | None = None) -> dict[Hashable, float]:
    """Each run's median `round_ratios`: its time over the round's fastest, over the warm rounds
    (inf for a run with none).

    A busy host's speed swings by 15-20 % from second to second, in both directions, while the
    candidates' order within a round holds: the fastest run alone lets one lucky spell pick a
    slow candidate, a ratio within the round does not.
    """
    return {key: statistics.median(ratios) if ratios else float("inf")
            for key, ratios in round_ratios(times, work).items()}


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
