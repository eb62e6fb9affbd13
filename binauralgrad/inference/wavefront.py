"""Wavefront sampling: both stages, all steps and all layers as one stream of tiles over time."""

from __future__ import annotations

from collections.abc import Callable

import torch

from binauralgrad.inference.buffers import FRESH, Ring, SampleBuffer, held_bytes, ring_capacity
from binauralgrad.inference.folded import FoldedDenoiser, StepBiases, with_one
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.plan import CATCH_UP
from binauralgrad.inference.sources import WavefrontSource
from binauralgrad.inference.terms import LearnedEars, NoiseRows, PriorRows
from binauralgrad.schedule import NoiseSchedule, SamplingStep

# Shapes (rows held, arriving, advanced) a layer keeps views for. A stream's pushes advance its
# layers by the push's length or, where the prior's 400-sample frames hold them back, a little
# less: 10 ms pushes by 480 or 400 samples, 20 ms ones by 960 or 800 (`BinauralStream._tick_push`);
# a pass's last layer, held back by the frames, takes what the others left the push before.
# Pushes of changing lengths make more.
STEADY_SHAPES = 16


class _Layer:
    """One residual layer of one pass: its output frontier and the input rows it still needs."""

    def __init__(self, dilation: int, template: torch.Tensor):
        self.dilation = dilation
        self.pending = template.new_zeros(template.shape[0], dilation, template.shape[-1])
        self.pending_start = -dilation  # the zero padding before the window
        self.done = 0
        self.padded = False


class _Pass:
    """One reverse step of one stage: input projection, residual layers, head and update."""

    def __init__(self, model: FoldedDenoiser, step: SamplingStep, draw: int,
                 template: torch.Tensor):
        self.step, self.draw = step, draw
        self.biases = model.step_biases(step.timestep_tensor())
        self.layers = [_Layer(dilation, template) for dilation in model.dilations]
        self.inputs = template.new_zeros(template.shape[0], 0, model.config.out_channels,
                                         dtype=torch.float32)
        self.input_done = 0
        self.done = 0


class StageStream:
    """One stage's six (or N) passes as a wavefront, with its conditioner cache.

    Each node advances only as far as its inputs allow; while `windows.ended` is False (a
    stream), the encoder stops at `windows.encoder_end`, a pass's update at `windows.prior_end`,
    and no zero padding is applied at the end until it is known.

    Args:
        model: the stage's prepared denoiser.
        stage: 1 or 2 (selects the noise streams).
        steps: the reverse steps in order. windows: what to synthesise (`Windows`, or a
            stream's growing inputs).
        noise: the positional noise. tile: samples a node advances per tick at most.
        cache: keep every layer's projected condition for the passes (else keep only the
            condition and project it again in each pass).
        mean: stage two's condition source: stage one's stream.
        initial_scale: the initial noise's standard deviation (the schedule's temperature).
        ears: this stage's learned head's ears, shared with the other stage
            (`LearnedEars.for_stages`); else computed by this stage alone.
        allocator: where the rings and the workspace come from (`buffers.FRESH`, or a
            `BufferPool.lease`).
    """

    def __init__(self, model: FoldedDenoiser, stage: int, steps: list[SamplingStep],
                 windows: WavefrontSource, noise: PositionalNoise, tile: int, *, cache: bool = True,
                 mean: StageStream | None = None, initial_scale: float = 1.0,
                 ears: tuple[LearnedEars, int] | None = None, allocator=FRESH):
        self.model, self.stage, self.windows, self.noise = model, stage, windows, noise
        self.initial_scale = initial_scale
        self.tile, self.cache, self.mean = tile, cache, mean
        self.capped = False
        # Most samples a layer advances in the next tick, where a stream evens out its pushes
        # (`BinauralStream._tick_push`); None: CATCH_UP tiles.
        self.budget: int | None = None
        # (layer, rows held, arriving, advanced) -> (slot, threads, SteadyLayer, row views)
        self._steady = {}
        batch = len(windows.items)
        width = 2 * model.channels
        template = torch.empty(batch, 0, width, device=model.device, dtype=model.dtype)
        self.passes = [_Pass(model, step, index, template) for index, step in enumerate(steps)]
        capacity = ring_capacity(model.config.pass_reach, len(steps), tile,
                                 model.config.encoder_reach)
        if cache:  # copied out of into each layer's pre-activations: no mirror needed
            self.rings = [Ring(batch, capacity, 0, width, template, allocator)
                          for _ in model.dilations]
        else:  # read as a layer's input: contiguous views through a mirror; a last channel
            # of ones carries each pass's bias into its projection (`StepBiases.condition`)
            self.rings = [Ring(batch, capacity, CATCH_UP * tile,
                               model.config.condition_channels + 1, template, allocator)]
        self.work = model.workspace(batch, CATCH_UP * tile, allocator)
        self.condition_done = 0
        self.output = SampleBuffer(batch, model.config.out_channels, template.float(),
                                   windows.length if windows.ended else 0)
        condition = None if mean is None else \
            (lambda first, last: mean.output.channels(first, last, self.length))
        self.priors = PriorRows(model.config, windows, condition, template.float(), batch,
                                model.learned_head, ears)
        self.noises = NoiseRows(noise, stage, windows, model.config.out_channels, model.device)

    @property
    def length(self) -> int:
        """The window's length (while a stream's end is open, a number beyond any sample)."""
        return self.windows.length

    @property
    def ready(self) -> int:
        """Output samples done."""
        return self.output.end

    def oldest_needed(self) -> int:
        """The first sample of its inputs (and of stage one's output) this stage still reads."""
        return min(self.condition_done - self.model.config.encoder_reach,
                   *(current.done for current in self.passes))

    def state_bytes(self) -> int:
        """Bytes of every tensor the stage holds."""
        tensors = [ring.data for ring in self.rings] + self.work.tensors() + [self.output.data]
        tensors += self.priors.tensors() + self.noises.tensors()
        for current in self.passes:
            tensors += [current.inputs] + [layer.pending for layer in current.layers]
            tensors += [bias for biases in current.biases for bias in biases]
        return held_bytes(tensors)

    def tick(self) -> bool:
        """Advances every node by up to one tile; returns whether anything moved.

        Afterwards `capped` says whether a node stopped short of what its inputs allow (a tile's
        limit or a full ring): only then can another tick move without new input.
        """
        self.capped = False
        moved = self._encode()
        incoming = None
        for index, current in enumerate(self.passes):
            incoming = self._advance_pass(current, incoming, first=index == 0)
            moved |= incoming is not None
        if incoming is not None:
            prior = self.priors.rows(self.ready, incoming.shape[1])
            self.output.append(incoming if prior is None else prior.decode(incoming))
        self._release()
        return moved

    def _encode(self) -> bool:
        reach = self.model.config.encoder_reach
        limit = self.length if self.windows.ended else self.windows.encoder_end - reach
        if self.mean is not None and self.mean.ready < self.length:
            limit = min(limit, self.mean.ready - reach)
        first = self.condition_done
        last = min(first + self.tile, limit, *(ring.space_end() for ring in self.rings))
        self.capped |= last < limit
        if last <= first:
            return False
        low, high = first - reach, last + reach
        audio = [self.windows.read("warped", low, high), self.windows.read("mono", low, high)]
        if self.mean is not None:
            audio.append(self.mean.output.channels(low, high, self.length))
        view = self.windows.view(low, high, self.model.config.view)
        condition = self.model.encode(torch.cat(audio, 1), view, first, self.length)
        if self.cache:
            for index, ring in enumerate(self.rings):
                ring.fill(last - first, lambda out, low, high, index=index:
                          self.model.project_condition_into(out, condition[:, low:high], index))
        else:
            self.rings[0].write(with_one(condition))
        self.condition_done = last
        return True

    def _preactivation_into(self, out: torch.Tensor, index: int, first: int, last: int,
                            biases: StepBiases, steady=None) -> None:
        if self.cache:
            self.rings[index].read_into(out, first, last, biases.bias)
        elif steady is not None:  # its products' views, made once
            steady.project(self.rings[0].read(first, last), biases)
        else:
            self.model.preactivation_into(out, self.rings[0].read(first, last), biases)

    def _advance_pass(self, current: _Pass, incoming, *, first: bool):
        if first:  # the stage's initial noise, drawn per absolute sample
            start = current.input_done
            # A stream draws noise only where its input has arrived (its end is not past it).
            end = self.length if self.windows.ended else self.windows.encoder_end
            count = min(self.tile, end - start)
            self.capped |= count < end - start
            incoming = None
            if count > 0:
                incoming = self.initial_scale * self.noises.rows(0, start, count)
        rows = None
        if incoming is not None:
            current.inputs = torch.cat([current.inputs, incoming], 1)
            current.input_done += incoming.shape[1]
            rows = self.model.input_rows(incoming)
        complete = current.input_done == self.length
        for index, layer in enumerate(current.layers):
            rows = self._advance_layer(current, index, layer, rows, complete)
            complete = layer.done == self.length
        if rows is None:
            return None
        return self._update(current, rows)

    def _advance_layer(self, current: _Pass, index: int, layer: _Layer, incoming, complete: bool):
        held, arriving = layer.pending.shape[1], 0 if incoming is None else incoming.shape[1]
        padding = layer.dilation if complete and not layer.padded else 0
        if not arriving and not padding and \
                self._limit(current, index, layer, layer.pending_start + held) <= layer.done:
            return None
        if arriving and not padding:
            out = self._advance_steady(current, index, layer, incoming)
            if out is not None:
                return out
        rows = self.work.rows(index, held + arriving + padding)
        rows[:, :held] = layer.pending
        if incoming is not None:
            rows[:, held: held + arriving] = incoming
        if padding:  # the zero padding after the window
            rows[:, held + arriving:] = 0
            layer.padded = True
        first = layer.done
        last = self._limit(current, index, layer, layer.pending_start + rows.shape[1])
        if last <= first:
            layer.pending = rows.clone()
            return None
        count = last - first
        layer.pending = rows[:, count:].clone()  # before the layer writes its output over rows
        preactivation = self.work.y[:, :count]
        self._preactivation_into(preactivation, index, first, last, current.biases[index])
        out = self.model.layer(index, rows[:, : count + 2 * layer.dilation], preactivation,
                               current.biases[index], first, self.length, self.work)
        layer.pending_start, layer.done = last - layer.dilation, last
        return out

    def _advance_steady(self, current: _Pass, index: int, layer: _Layer, incoming: torch.Tensor):
        """`_advance_layer`'s work away from the window's edges, on views made once for each
        (rows held, rows arriving, rows advanced): a stream's pushes repeat a few of those.
        None where the layer would reach an edge or not advance, and the general path runs."""
        held, arriving, dilation, first = layer.pending.shape[1], incoming.shape[1], \
            layer.dilation, layer.done
        # layer.pending_start is first - dilation: the rows reach held + arriving - 2 d further.
        last = self._limit(current, index, layer, first - dilation + held + arriving)
        if first < dilation or last + dilation > self.length or last <= first:
            return None
        count, slot, threads = last - first, self.work.layer_rows[index % 2], \
            torch.get_num_threads()
        key = index, held, arriving, count
        cached = self._steady.get(key)
        # New, or the workspace grew since, or the threads changed (the gate's rows follow
        # them: a stream's pushes run on one thread, its catching up on torch's).
        if cached is None or cached[0] is not slot or cached[1] != threads:
            if len(self._steady) >= STEADY_SHAPES * len(self.model.dilations):
                self._steady.clear()  # pushes of ever new lengths: memory stays flat
            rows = self.work.rows(index, held + arriving)
            cached = (slot, threads,
                      self.model.steady_layer(index, rows[:, : count + 2 * dilation], self.work),
                      rows[:, :held], rows[:, held:], rows[:, count:])
            self._steady[key] = cached
        _, _, steady, held_rows, arriving_rows, next_pending = cached
        held_rows.copy_(layer.pending)
        arriving_rows.copy_(incoming)
        if layer.pending.shape[1] == next_pending.shape[1]:
            layer.pending.copy_(next_pending)  # an own buffer (`_advance_layer`'s clone)
        else:  # before the layer writes its output over the rows
            layer.pending = next_pending.clone()
        self._preactivation_into(steady.y, index, first, last, current.biases[index], steady)
        out = steady.run()
        layer.pending_start, layer.done = last - dilation, last
        return out

    def _limit(self, current: _Pass, index: int, layer: _Layer, end: int) -> int:
        """How far a layer can advance now, with its input rows held up to `end`."""
        ring = self.rings[index if self.cache else 0]
        last = min(self.length if layer.padded else end - layer.dilation, ring.end)
        if index == len(current.layers) - 1 and not self.windows.ended:
            last = min(last, self.windows.prior_end)  # the update needs the prior's samples
        # A layer may take up to CATCH_UP tiles, so that a backlog drains instead of throttling
        # the whole wavefront to the rate of its slowest node.
        most = layer.done + CATCH_UP * self.tile
        if self.budget is not None:
            most = min(most, layer.done + self.budget)
        self.capped |= most < last
        return min(last, most)

    def _update(self, current: _Pass, rows: torch.Tensor) -> torch.Tensor:
        """The reverse step (paper Eq. 3) on the samples the last layer just finished."""
        count, first, step = rows.shape[1], current.done, current.step
        predicted = self.model.head(rows)
        sample = current.inputs[:, :count]
        current.inputs = current.inputs[:, count:]
        fresh = self.noises.rows(current.draw + 1, first, count) if step.sigma > 0 else None
        current.done += count
        return NoiseSchedule.reverse_step(sample, predicted, step, fresh,
                                          prior=self.priors.rows(first, count))

    def _release(self) -> None:
        for index, ring in enumerate(self.rings):
            layers = range(len(self.model.dilations)) if not self.cache else [index]
            oldest = min(current.layers[i].done for current in self.passes for i in layers)
            ring.start = max(ring.start, min(oldest, self.condition_done))
        self.priors.trim(min(current.done for current in self.passes))


def shared_ears(stage_one: FoldedDenoiser, stage_two: FoldedDenoiser, windows: WavefrontSource):
    """Both stages' learned ears computed together where their heads can share
    (`LearnedEars.for_stages`): per stage, what `StageStream(ears=...)` takes."""
    models = (stage_one, stage_two)
    like = torch.empty(0, device=stage_one.device)
    return LearnedEars.for_stages([model.config for model in models],
                                  [model.learned_head for model in models], windows, like,
                                  len(windows.items))


def run_wavefront(stage_one: FoldedDenoiser, stage_two: FoldedDenoiser,
                  steps: list[SamplingStep], windows: WavefrontSource, noise: PositionalNoise,
                  *, tile: int, cache: bool = True,
                  on_progress: Callable[[int], object] = lambda done: None,
                  initial_scale: float = 1.0, allocator=FRESH):
    """Samples both stages over `windows` as one wavefront.

    Every sample of every layer, pass and stage is computed once; memory is set by `tile` and the
    receptive field, not by the length. The large buffers come from `allocator` (a
    `BufferPool.lease` keeps them for the next run).

    Returns:
        (mean (B, 1, L), binaural (B, 2, L)) float32.
    """
    if tile < 1:
        raise ValueError(f"tile must be a positive number of samples, got {tile}")
    ears = shared_ears(stage_one, stage_two, windows)
    one = StageStream(stage_one, 1, steps, windows, noise, tile, cache=cache,
                      initial_scale=initial_scale, ears=ears[0], allocator=allocator)
    two = StageStream(stage_two, 2, steps, windows, noise, tile, cache=cache, mean=one,
                      initial_scale=initial_scale, ears=ears[1], allocator=allocator)
    while two.ready < windows.length:
        moved = one.tick()
        moved = two.tick() or moved
        if not moved:
            raise RuntimeError("the wavefront stalled (a scheduling bug)")
        on_progress(two.ready)
    length = windows.length
    return one.output.rows(0, length).transpose(1, 2), two.output.rows(0, length).transpose(1, 2)
