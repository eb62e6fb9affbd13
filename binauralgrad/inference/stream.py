"""BinauralStream: push mono and position rows as they arrive, get both ears back at a fixed lag."""

from __future__ import annotations

import warnings
from contextlib import nullcontext, suppress

import torch

from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.evaluation.speed import synthesis_flops
from binauralgrad.inference.backends import select
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.overlap import StageProcess, WorkerNotStarted, one_thread
from binauralgrad.inference.plan import pipeline_reach
from binauralgrad.inference.sources import StreamInputs
from binauralgrad.inference.wavefront import StageStream, shared_ears

# A stream's pushes are short: a longer tile only makes the conditioner rings larger (a push
# beyond it takes more steps of the wavefront, not more memory).
MAX_STREAM_TILE = 4096
# Overlapped stages pay where a stage's arithmetic for the least a push does (a frame: shorter
# pushes wait for one) outweighs what overlapping adds: the inputs' terms computed in both
# processes and a message each way a push, about 1 ms at 10 ms pushes.
OVERLAP_MIN_FLOP = 20e6
# Per stage and push, on a 2-core AMD EPYC guest (RTF): a push's small operations run best on
# one thread and with the stages overlapped (live model, 10 ms, 70 MFLOP: 0.85-1.20 in turn on
# one thread, 0.58-0.86 overlapped; the default at 20 ms, 380: 0.99-1.09 and 0.55-0.97). Long
# pushes' products are large enough to split: the default at 50 ms (940) ran 0.62-0.67 in turn
# with torch's threads inside each operation, 0.93-0.97 on one and 0.71-0.91 overlapped; the live
# model at 50 ms (350) 0.41-0.50 with torch's threads and 0.54-0.60 on one.
OVERLAP_MAX_FLOP = 600e6  # an automatic overlap ends at a first push this long
ONE_THREAD_MAX_FLOP = 300e6  # pushes in turn run on one thread up to this


def stream_latency(configs, num_steps: int, frame_samples: int = FRAME_SAMPLES) -> int:
    """Input samples a stream needs past an output sample before it can return it (worst case).

    Within a pass, an output sample reads its input sum(dilations) samples ahead and its
    condition sum(dilations) - dilations[0] ahead; the condition reads the audio `encoder_reach`
    ahead; a stage chains `num_steps` passes, and stage two's condition reads stage one's output.
    A pass's update reads the prior's terms, which may need input past the sample
    (`PriorConfig.input_needed`). Rows are taken to arrive with the first sample of their frame;
    rows that lag add their lag.

    Args:
        configs: (stage one's, stage two's) DenoiserConfig.
        num_steps: reverse steps per stage.

    Returns:
        The latency in samples: the largest, over a frame's sample phases, of (last input sample
        an output sample needs) - (its index).
    """
    def stage_need(stage, sample):
        config = configs[stage]
        field = config.pass_reach
        condition = sample + num_steps * field - config.dilations[0] + config.encoder_reach
        need = max(condition, config.prior.input_needed(sample + (num_steps - 1) * field,
                                                         frame_samples))
        if stage == 1:
            need = max(need, stage_need(0, condition))
        return need

    reach = pipeline_reach(configs, num_steps)
    start = frame_samples * (reach // frame_samples + 4)  # far from the start's clamped edges
    return max(stage_need(1, sample) - sample
               for sample in range(start, start + 2 * frame_samples))


class BinauralStream:
    """Streaming synthesis with a pipeline's two stages: the offline output, block by block.

    `push` accepts mono blocks of any size with the position rows that have arrived (rows may
    lead or lag the audio by up to `max_skew_frames`), and returns the binaural samples that
    are complete: after n samples pushed, n - `latency_samples` in all (with `overlap`, the
    samples due one push earlier). `flush` ends the input and returns the rest. The output
    equals `pipe(mono, positions)` for the same generator, as the sampling noise is a function
    of the absolute sample; memory stays bounded. A push's own work (each layer advanced by
    the push's length) runs on one CPU thread (`one_thread`), or with `overlap` on two, one per
    stage (stage one in a process of its own); pushes in turn whose arithmetic passes
    ONE_THREAD_MAX_FLOP a stage, catching up after late rows, and the flush on torch's threads.

    Args:
        pipeline: the BinauralGradPipeline (its device; batch of one).
        generator: the source of the sampling noise (one 64-bit seed is drawn, as offline).
        steps: "fast" (the pipeline's fast steps, `pipe.fast_steps`), a number of fast steps,
            or "full". dtype: compute dtype (default: the pipeline's).
        tile_seconds: most samples a node advances per step (default: this machine's tuning).
        max_skew_frames: how far rows may lead or lag the audio, in 120 Hz frames.
        overlap: run stage one a push ahead of stage two in a process of its own (CPU only,
            `inference.overlap`), so that both run at once, for one push more latency; the
            stream then takes about 1.5 s to make (the process imports torch). None: where a
            stage's arithmetic for a frame is OVERLAP_MIN_FLOP or more and torch has two
            threads or more (both embedded models and the paper's; not the tests' tiny sizes),
            unless the first push's is OVERLAP_MAX_FLOP or more (the default at 50 ms: long
            pushes gain more from torch's threads inside each operation). `flush` (or
            `close`) ends the process.

    Example:
        >>> stream = pipe.stream(generator=torch.Generator().manual_seed(0))
        >>> for block, rows in blocks:          # e.g. 480 samples and the rows that came
        ...     play(stream.push(block, rows))  # (2, n) float32, n may be 0
        >>> play(stream.flush())
    """

    def __init__(self, pipeline, *, generator: torch.Generator | None = None,
                 steps: str | int = "fast", dtype: torch.dtype | None = None,
                 tile_seconds: float | None = None, max_skew_frames: int = 12,
                 overlap: bool | None = None):
        if tile_seconds is not None and not tile_seconds > 0:
            raise ValueError(f"tile_seconds must be positive, got {tile_seconds!r}")
        with torch.inference_mode():
            self._build(pipeline, generator, steps, dtype, tile_seconds, max_skew_frames)
            cpu = pipeline.device.type == "cpu"
            chosen = overlap is not None
            if not chosen:
                overlap = torch.get_num_threads() >= 2 and \
                    self._sample_flop * FRAME_SAMPLES >= OVERLAP_MIN_FLOP
            try:
                self._stages(bool(overlap) and cpu)
            except WorkerNotStarted as error:  # a sandbox may forbid processes
                if chosen:
                    raise
                warnings.warn(f"{error}; the stages run in turn", RuntimeWarning, stacklevel=3)
                self._stages(False)
            # An automatic overlap is for short pushes: the first one's length may still end it.
            self._overlap_undecided = not chosen and self.overlap

    def _build(self, pipeline, generator, steps, dtype, tile_seconds, max_skew_frames):
        device, stages = pipeline.device, pipeline.stages
        schedule = pipeline.sampling_schedule  # the room's temperature, where it has its own
        steps = schedule.sampling_steps(steps)
        backend = select(device, dtype or pipeline.dtype, stages=stages, num_steps=len(steps))
        models = [FoldedDenoiser(stage, dtype=backend.dtype, backend=backend.kernels)
                  for stage in stages]
        tile = round(tile_seconds * SAMPLE_RATE) if tile_seconds else \
            min(backend.tile, MAX_STREAM_TILE)
        configs = [stage.config for stage in stages]
        self.inputs = StreamInputs(configs, device=device, max_skew_frames=max_skew_frames)
        self._models, self._steps, self._tile, self._cache = models, steps, max(1, tile), \
            backend.cache
        self._kernels, self._configs, self._max_skew_frames = backend.kernels, configs, \
            max_skew_frames
        self._denoisers = stages  # stage one's weights go to its process where stages overlap
        self._noise, self._temperature = PositionalNoise.from_generator(generator), \
            schedule.temperature
        self._sample_flop = max(synthesis_flops([config], len(steps)) for config in configs)
        self.latency_samples = stream_latency(configs, len(steps))
        self._returned, self._ended, self._due_next = 0, None, 0

    def _stages(self, overlap: bool) -> None:
        """The two stages' wavefronts: stage one in a process of its own, or both here."""
        models, steps, tile = self._models, self._steps, self._tile
        options = {"cache": self._cache, "initial_scale": self._temperature}
        if overlap:  # each stage computes its learned head's ears
            self._one = StageProcess(
                self._denoisers[0], self._configs, steps, tile=tile, cache=self._cache,
                temperature=self._temperature, noise_seed=self._noise.seed,
                max_skew_frames=self._max_skew_frames, dtype=models[0].dtype,
                backend=self._kernels)
            ears = [None, None]
        else:
            ears = shared_ears(*models, self.inputs)
            self._one = StageStream(models[0], 1, steps, self.inputs, self._noise, tile,
                                    ears=ears[0], **options)
        self._two = StageStream(models[1], 2, steps, self.inputs, self._noise, tile,
                                mean=self._one, ears=ears[1], **options)

    @property
    def overlap(self) -> bool:
        """Whether stage one runs a push ahead of stage two, in a process of its own."""
        return isinstance(self._one, StageProcess)

    @property
    def _stages_here(self) -> tuple[StageStream, ...]:
        """The stages this process runs (stage one in its own keeps its own inputs)."""
        return (self._two,) if self.overlap else (self._one, self._two)

    @property
    def latency_seconds(self) -> float:
        return self.latency_samples / SAMPLE_RATE

    @property
    def samples_in(self) -> int:
        """Mono samples pushed so far."""
        return self.inputs.samples

    @property
    def samples_out(self) -> int:
        """Binaural samples returned so far."""
        return self._returned

    @property
    def computed_samples(self) -> int:
        """Binaural samples synthesised so far (returned once `latency_samples` old)."""
        return self._two.ready

    @property
    def state_bytes(self) -> int:
        """Bytes of every tensor the stream holds (flat in the stream's length)."""
        return self._one.state_bytes() + self._two.state_bytes() + self.inputs.state_bytes()

    @torch.inference_mode()
    def push(self, mono_block, position_rows) -> torch.Tensor:
        """Adds audio and position rows; returns the binaural samples now due.

        Args:
            mono_block: (n,) or (1, n) 48 kHz samples, tensor or ndarray (n may be 0).
            position_rows: (k, 7) rows `x y z qx qy qz qw` that arrived since the last push
                (k may be 0): row i covers samples 400 i .. 400 i + 399.

        Returns:
            (2, m) float32 left and right ear, the samples after those returned before.
        """
        if self._ended:
            raise RuntimeError(f"push() after {self._ended}: the stream has ended; start a new "
                               "one with pipe.stream()")
        block, rows = self.inputs.checked(mono_block, position_rows)
        if self._overlap_undecided and len(block):
            self._overlap_undecided = False
            if self._sample_flop * len(block) >= OVERLAP_MAX_FLOP:
                self._one.close()  # long pushes: torch's threads inside each operation
                self._stages(False)
        due = self.inputs.samples + len(block) - self.latency_samples
        if self.overlap:  # stage two gets to what was due a push ago
            due, self._due_next = self._due_next, due
        self._tick_push(block, rows, budget=max(len(block), FRAME_SAMPLES))
        self._advance(due)
        return self._take(due)

    @torch.inference_mode()
    def flush(self) -> torch.Tensor:
        """Ends the input (rows must cover it: ceil(n / 400)); returns the remaining samples."""
        if self._ended:
            raise RuntimeError(f"flush() after {self._ended}: the stream has ended")
        try:
            if self.inputs.samples == 0:
                return torch.zeros(2, 0, device=self.inputs.device)
            samples = self.inputs.end()
            if self.overlap:
                self._one.end()
            self._advance()
        finally:
            self.close()
            self._ended = "flush()"
        if self._two.ready < self.inputs.length:
            raise RuntimeError("the stream stalled at its end (a scheduling bug)")
        return self._take(samples)

    def close(self) -> None:
        """Ends the stream without flushing it, and stage one's process if any (`flush` ends
        both)."""
        self._ended = self._ended or "close()"
        if self.overlap:
            self._one.close()

    def _tick_push(self, block: torch.Tensor, rows: torch.Tensor, budget: int) -> None:
        """Adds a `checked` push to the inputs and ticks each stage once, every layer advanced
        by at most `budget`: at once where the stages overlap (stage two on what stage one had
        finished by the push before), else stage one first.

        The prior's envelope and spreading become known a frame at a time, so a greedy tick
        advances the passes by two or three frames in turn at 20 ms pushes (800 or 1200
        samples), and the longer pushes miss their block's time. Advancing each layer by at most
        the push's length keeps every push's work the same: each layer's needs grow by the
        push's length too, so it still meets them, and what it could have done ahead waits a
        push. Pushes shorter than a frame get a frame's budget: their layers then wait for
        the frame and take it whole, as greedy ticks do, instead of running every layer on
        each push's few samples (64-sample pushes cost twice the compute that way).
        """
        here = self._stages_here
        for stage in here:
            stage.budget = budget
        try:
            small = self.overlap or self._sample_flop * budget < ONE_THREAD_MAX_FLOP
            with one_thread(self.inputs.device) if small else nullcontext():
                if self.overlap:
                    # Sent first: stage one starts while this process adds the push too.
                    self._one.start_push(block, rows, budget)
                    try:
                        self.inputs.add(block, rows)
                        self._two.tick()
                    except BaseException:
                        with suppress(RuntimeError):  # the worker's own (the same) failure
                            self._one.finish_push()
                        raise
                    self._one.finish_push()
                else:
                    self.inputs.add(block, rows)
                    self._one.tick()
                    self._two.tick()
        finally:
            for stage in here:
                stage.budget = None

    def _advance(self, due: int | None = None) -> None:
        """Ticks on where the output is still short of `due` (lagging position rows held it
        back), or at the end as far as the inputs allow; then lets go of what no stage reads
        again."""
        # A tick takes every node as far as its inputs allow, stage two after stage one, unless
        # a tile's limit held one back: then (a backlog) tick again; else a tick more is idle.
        while due is None or self._two.ready < due:
            moved = self._one.tick()
            moved = self._two.tick() or moved
            if not moved or not (self._one.capped or self._two.capped):
                break
        self.inputs.trim(min(stage.oldest_needed() for stage in self._stages_here))
        self._one.output.trim(self._two.oldest_needed())

    def _take(self, last: int) -> torch.Tensor:
        first = self._returned
        last = max(first, min(last, self._two.ready))
        out = self._two.output.rows(first, last)[0].t().float().clone()
        self._two.output.trim(last)
        self._returned = last
        return out
