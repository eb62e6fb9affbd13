"""The stream: the offline output block by block, at its stated latency, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, make_tiny_pipeline, moving_positions, randomize, speech_like

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.constants import DEFAULT_MODEL_DIR, LIVE_MODEL_DIR
from binauralgrad.inference.stream import stream_latency

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# The embedded default's priors: the envelope and spreading need the next frame (look-ahead).
DEFAULT_PRIORS = {"prior": "attenuated_warp", "prior_std": "envelope", "prior_scale": 0.5,
                  "prior_gain": 0.4}


def tiny_with_priors(seed: int = 0, **options) -> BinauralGradPipeline:
    stages = [randomize(BinauralDenoiser(make(**TINY, **DEFAULT_PRIORS, **options)), seed + index)
              for index, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    return BinauralGradPipeline(*stages)


PIPE_OPTIONS = {"default priors": {}, "ears view": {"view": "ears"},
                # A learned head reads the warp ahead and behind: more look-ahead, more history.
                "learned head": {"view": "ears", "prior_head_taps": 12}}


@pytest.fixture(scope="module", params=["paper priors", *PIPE_OPTIONS])
def pipe(request):
    if request.param == "paper priors":
        return make_tiny_pipeline(3)
    return tiny_with_priors(5, **PIPE_OPTIONS[request.param])


def offline(pipeline, mono, rows, seed=0, **options):
    return pipeline(mono, rows, generator=torch.Generator().manual_seed(seed), progress=False,
                    **options).audio


def streamed(pipeline, mono, rows, blocks, seed=0, skew=0, **options):
    """Pushes `blocks` samples at a time with the rows due (shifted by `skew` frames)."""
    stream = pipeline.stream(generator=torch.Generator().manual_seed(seed), **options)
    outputs, done, given = [], 0, 0
    for size in blocks:
        block = mono[done: done + size]
        pushed, done = done, done + len(block)
        due = min(len(rows), max(given, -(-done // 400) + skew))
        outputs.append(stream.push(block, rows[given:due]))
        given = due
        if skew >= 0:  # rows on time: the output is exactly `latency_samples` behind (with
            # overlapped stages, behind what had been pushed before this push)
            ahead = pushed if stream.overlap else done
            assert sum(out.shape[1] for out in outputs) == max(0, ahead - stream.latency_samples)
    outputs += [stream.push(mono[done:], rows[given:]), stream.flush()]
    return torch.cat(outputs, dim=1), stream


def random_blocks(seed: int, largest: int, total: int) -> list[int]:
    """Random block sizes from 1 to `largest` - 1 that add up to at least `total`."""
    rng, sizes = np.random.default_rng(seed), []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(1, largest)))
    return sizes


@pytest.mark.parametrize("seed,largest", [(0, 900), (1, 60), (2, 3000)])
def test_the_stream_is_the_offline_output_for_any_blocks(pipe, seed, largest):
    length = 4321  # not whole frames
    mono, rows = speech_like(length, seed), moving_positions(-(-length // 400))
    out, _ = streamed(pipe, mono, rows, random_blocks(seed, largest, length), seed=seed,
                      skew=seed - 1)
    assert torch.equal(out, offline(pipe, mono, rows, seed=seed))


@pytest.mark.parametrize("seed,largest", [(4, 60), (5, 3000)])
def test_overlapped_stages_give_the_offline_output_a_push_later(pipe, seed, largest):
    length = 4321
    mono, rows = speech_like(length, seed), moving_positions(-(-length // 400))
    out, stream = streamed(pipe, mono, rows, random_blocks(seed, largest, length), seed=seed,
                           skew=seed - 4, overlap=True)
    assert stream.overlap and torch.equal(out, offline(pipe, mono, rows, seed=seed))
    assert stream._one._process.poll() == 0  # flush ended stage one's process


def test_the_models_size_and_the_first_push_decide_whether_the_stages_overlap(monkeypatch):
    from binauralgrad.evaluation.speed import synthesis_flops
    from binauralgrad.inference import stream as stream_module

    pipeline = tiny_with_priors()
    per_sample = max(synthesis_flops([stage.config], pipeline.fast_steps)
                     for stage in pipeline.stages)
    mono, rows = speech_like(2000), moving_positions(5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        # A stage's arithmetic for a frame (the least a push does) against the threshold.
        for threshold, option, overlapped in ((400 * per_sample + 1, None, False),
                                              (400 * per_sample, None, True),
                                              (400 * per_sample, False, False)):
            monkeypatch.setattr(stream_module, "OVERLAP_MIN_FLOP", threshold)
            out, stream = streamed(pipeline, mono, rows, [700, 1300], overlap=option)
            assert stream.overlap == overlapped and torch.equal(out, offline(pipeline, mono, rows))
        # A first push this long or longer ends an automatic overlap (not a chosen one): its
        # worker is closed before it computed anything.
        monkeypatch.setattr(stream_module, "OVERLAP_MAX_FLOP", 700 * per_sample)
        for first, option, overlapped in ((699, None, True), (700, None, False),
                                          (700, True, True)):
            out, stream = streamed(pipeline, mono, rows, [first, 2000 - first], overlap=option)
            assert stream.overlap == overlapped and torch.equal(out, offline(pipeline, mono, rows))
        torch.set_num_threads(1)  # one core: nothing to overlap on
        assert not streamed(pipeline, mono, rows, [2000])[1].overlap
    finally:
        torch.set_num_threads(threads)


def test_a_push_runs_on_one_thread_and_gives_the_callers_back(monkeypatch):
    from binauralgrad.evaluation.speed import synthesis_flops
    from binauralgrad.inference import stream as stream_module
    from binauralgrad.inference.wavefront import StageStream

    pipeline, seen = tiny_with_priors(), []
    tick = StageStream.tick
    monkeypatch.setattr(StageStream, "tick",
                        lambda self: seen.append(torch.get_num_threads()) or tick(self))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        mono, rows = speech_like(2400), moving_positions(6)
        per_sample = max(synthesis_flops([stage.config], pipeline.fast_steps)
                         for stage in pipeline.stages)
        # Pushes in turn up to ONE_THREAD_MAX_FLOP a stage on one thread, longer ones on
        # torch's; overlapped ones (each stage on its own core) always on one.
        for overlap, most, push_threads in ((False, 480 * per_sample + 1, 1),
                                            (False, 480 * per_sample, 2), (True, 0, 1)):
            monkeypatch.setattr(stream_module, "ONE_THREAD_MAX_FLOP", most)
            stream = pipeline.stream(overlap=overlap)
            for index in range(5):  # equal pushes, rows on time: each push's own ticks
                stream.push(mono[480 * index: 480 * (index + 1)],
                            rows[-(-480 * index // 400): -(-480 * (index + 1) // 400)])
            assert set(seen) == {push_threads} and torch.get_num_threads() == 2
            seen.clear()
            stream.flush()  # the rest at once, on torch's threads
            assert set(seen) == {2}
            seen.clear()
    finally:
        torch.set_num_threads(threads)


def test_without_a_worker_process_a_chosen_overlap_fails_and_an_automatic_one_runs_in_turn(
        monkeypatch):
    from binauralgrad.inference import overlap
    from binauralgrad.inference import stream as stream_module

    def refuse():
        raise overlap.WorkerNotStarted("the stream's stage one process did not start")

    monkeypatch.setattr(overlap, "_start_worker", refuse)
    monkeypatch.setattr(stream_module, "OVERLAP_MIN_FLOP", 0)
    pipeline = tiny_with_priors()
    mono, rows = speech_like(2000), moving_positions(5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(overlap.WorkerNotStarted):
            pipeline.stream(overlap=True)
        with pytest.warns(RuntimeWarning, match="did not start; the stages run in turn"):
            out, stream = streamed(pipeline, mono, rows, [700, 1300])
    finally:
        torch.set_num_threads(threads)
    assert not stream.overlap and torch.equal(out, offline(pipeline, mono, rows))


def test_stage_ones_process_reports_its_failures_and_ends_with_the_stream():
    import gc

    pipeline = tiny_with_priors(view="ears", prior_head_taps=12)
    stream = pipeline.stream(generator=torch.Generator().manual_seed(0), overlap=True)
    stream.push(speech_like(1000), moving_positions(3))
    assert stream.state_bytes > stream._two.state_bytes() + stream.inputs.state_bytes()
    stream._one._send("no such call")  # the worker's own error comes back with its traceback
    with pytest.raises(RuntimeError, match="stage one's process failed:(.|\n)*AttributeError"):
        stream._one._receive()
    # A push the stream refuses never reaches the worker: the two stay in step.
    with pytest.raises(ValueError, match="position rows do not match the audio"):
        stream.push(speech_like(10), moving_positions(20))
    stream.push(speech_like(10), moving_positions(0))
    stream._one._process.kill()
    stream._one._process.wait()
    with pytest.raises(RuntimeError, match="stage one process has ended"):
        stream.push(speech_like(480), moving_positions(1))
    stream = pipeline.stream(overlap=True)  # dropped unclosed: its process ends too
    process = stream._one._process
    del stream
    gc.collect()
    assert process.wait(timeout=30) == 0


@pytest.mark.parametrize("steps", [4, 3, 2, 1])
def test_the_stream_is_the_offline_output_with_fewer_steps(pipe, steps):
    length = 3210
    mono, rows = speech_like(length, steps), moving_positions(-(-length // 400))
    out, _ = streamed(pipe, mono, rows, random_blocks(steps, 1500, length), seed=steps,
                      steps=steps)
    assert torch.equal(out, offline(pipe, mono, rows, seed=steps, steps=steps))


def test_the_stream_samples_with_the_pipelines_saved_step_count():
    pipeline = make_tiny_pipeline(3)
    pipeline.fast_steps = 2
    mono, rows = speech_like(2000), moving_positions(5)
    out, stream = streamed(pipeline, mono, rows, [700, 1300])
    assert torch.equal(out, offline(pipeline, mono, rows, steps=2))
    configs = [stage.config for stage in pipeline.stages]
    assert stream.latency_samples == stream_latency(configs, 2) < stream_latency(configs, 6)


def test_the_stream_with_the_conditioner_cache_is_the_offline_output(pipe, monkeypatch):
    from binauralgrad.inference import tuning

    monkeypatch.setenv(tuning.TUNING_ENV, "off,cache=1")  # the default keeps no cache
    mono, rows = speech_like(3000, 5), moving_positions(8)
    out, _ = streamed(pipe, mono, rows, random_blocks(5, 700, 3000))
    assert torch.equal(out, offline(pipe, mono, rows))


def test_blocks_of_one_frame_and_of_single_samples(pipe):
    mono, rows = speech_like(2000), moving_positions(5)
    expected = offline(pipe, mono, rows)
    assert torch.equal(streamed(pipe, mono, rows, [400] * 5)[0], expected)
    assert torch.equal(streamed(pipe, mono, rows, [1] * 300 + [1700])[0], expected)


# Their sampler steps (2 and 3 of the paper's 6) and latencies (20.4 and 25.6 ms).
@pytest.mark.parametrize(("folder", "steps", "latency"), [(DEFAULT_MODEL_DIR, 2, 979),
                                                          (LIVE_MODEL_DIR, 3, 1231)],
                         ids=["default", "live"])
def test_the_embedded_models_stream_their_offline_output(folder, steps, latency):
    pipeline = BinauralGradPipeline.from_pretrained(folder)
    length = 9000
    mono, rows = speech_like(length, 3), moving_positions(-(-length // 400))
    out, stream = streamed(pipeline, mono, rows, random_blocks(4, 2500, length), seed=3)
    assert pipeline.fast_steps == steps and stream.latency_samples == latency
    torch.testing.assert_close(out, offline(pipeline, mono, rows, seed=3), atol=1e-5, rtol=0)


def test_latency_follows_the_configs():
    configs = [DenoiserConfig.stage_one(), DenoiserConfig.stage_two()]
    # The paper's stages: six passes of sum(dilations) = 3069, less the first layer's dilation,
    # plus the encoder's 3, each; no prior to look ahead for.
    assert stream_latency(configs, 6) == 2 * (6 * 3069 - 1 + 3)
    small = {"residual_layers": 12, "residual_channels": 32, "dilation_cycle_length": 6}
    configs = [make(**small, **DEFAULT_PRIORS) for make in
               (DenoiserConfig.stage_one, DenoiserConfig.stage_two)]
    # Stage two's condition needs stage one 758 samples on, whose first pass updates 630 further
    # on, where the envelope may need the rest of the next frame: 599 more.
    assert stream_latency(configs, 6) == 758 + 630 + 599


def first_delays(pipeline, mono, rows, bulk: int, singles: int) -> dict[int, int]:
    """Output sample -> input samples pushed past it when it was synthesised (single pushes)."""
    stream = pipeline.stream(generator=torch.Generator().manual_seed(0))
    stream.push(mono[:bulk], rows[: -(-bulk // 400)])
    delays, given = {}, -(-bulk // 400)
    for pushed in range(bulk + 1, bulk + singles + 1):
        due = -(-pushed // 400)
        before = stream.computed_samples
        stream.push(mono[pushed - 1: pushed], rows[given:due])
        given = due
        for sample in range(before, stream.computed_samples):
            delays[sample] = pushed - 1 - sample
    return delays, stream


def test_the_latency_is_the_measured_delay_of_the_first_and_the_worst_sample():
    pipeline = make_tiny_pipeline(3)  # without a prior every sample waits the same
    mono, rows = speech_like(1200), moving_positions(3)
    delays, stream = first_delays(pipeline, mono, rows, 60, 40)  # pushed up to 100
    assert delays[0] == stream.latency_samples == 76
    assert stream.samples_out == 100 - 76
    # With the envelope prior the delay depends on the sample's place in its frame: the worst
    # sample (132: its first pass's update at 200, a frame's centre) waits exactly the latency.
    pipeline = tiny_with_priors()
    mono, rows = speech_like(2000), moving_positions(5)
    delays, stream = first_delays(pipeline, mono, rows, 780, 40)
    assert stream.latency_samples == 667
    assert max(delays.values()) == delays[132] == 667


def test_memory_stays_flat_over_a_long_stream():
    pipeline = tiny_with_priors()
    stream = pipeline.stream(generator=torch.Generator().manual_seed(0))
    block, rng = 480, np.random.default_rng(0)
    sizes = []
    for index in range(400):  # 4 s in 10 ms blocks (the warp keeps 1 s of mono)
        mono = rng.standard_normal(block).astype(np.float32) * 0.1
        first, last = -(-index * block // 400), -(-(index + 1) * block // 400)
        stream.push(mono, moving_positions(last)[first:last])
        sizes.append(stream.state_bytes)
    # Buffers compact as they go, so the size wobbles, but it does not grow with the blocks.
    assert max(sizes[200:]) == max(sizes[100:200]) < 32 * 2**20
    assert stream.samples_out == 400 * block - stream.latency_samples


def test_equal_pushes_tick_once_a_stage_on_views_made_once(monkeypatch):
    from binauralgrad.inference.folded import FoldedDenoiser
    from binauralgrad.inference.wavefront import StageStream

    pipeline, ticks, general = tiny_with_priors(), [], []
    tick, layer = StageStream.tick, FoldedDenoiser.layer
    monkeypatch.setattr(StageStream, "tick", lambda self: ticks.append(self.stage) or tick(self))
    monkeypatch.setattr(FoldedDenoiser, "layer",
                        lambda self, *args: general.append(args[0]) or layer(self, *args))
    stream = pipeline.stream(generator=torch.Generator().manual_seed(0))
    mono, rows = speech_like(480 * 20), moving_positions(24)
    outputs = []
    for index in range(20):  # 10 ms pushes: shorter than a tile, so nothing is ever capped
        first, last = -(-index * 480 // 400), -(-(index + 1) * 480 // 400)
        ticks.clear(), general.clear()
        outputs.append(stream.push(mono[480 * index: 480 * (index + 1)], rows[first:last]))
        assert ticks == [1, 2]  # no idle tick after the one that moved
        if index >= 10:  # past the window's start: every layer on its views
            assert general == []
    # Stage two reads stage one's output and the prior, known in whole 400-sample frames: a
    # greedy tick would advance its layers by 400 or 800 samples in turn; held to the push's
    # length, they advance by 480 (or 400 where the frames hold them back), on views made once
    # for each shape (a pass's last layer holds more rows: the frames hold it back).
    layers = len(pipeline.stage_two.config.dilations)
    advanced = {count for _, _, _, count in stream._two._steady}
    assert max(advanced) == 480 and advanced <= {400, 480}
    assert {index for index, _, _, count in stream._two._steady if count == 480} \
        == set(range(layers))
    outputs.append(stream.flush())
    assert torch.equal(torch.cat(outputs, 1), offline(pipeline, mono, rows))


def test_every_push_does_a_push_worth_of_work():
    # The prior comes a 400-sample frame at a time, so a greedy tick would advance the passes by
    # 800 or 1200 samples in turn at 960-sample pushes; each pass advances by at most a push.
    pipeline = tiny_with_priors()
    stream = pipeline.stream(generator=torch.Generator().manual_seed(0))
    mono, rows = speech_like(960 * 12), moving_positions(-(-960 * 12 // 400))
    passes = stream._one.passes + stream._two.passes
    outputs, before = [], [current.done for current in passes]
    for index in range(12):
        first, last = -(-index * 960 // 400), -(-(index + 1) * 960 // 400)
        outputs.append(stream.push(mono[960 * index: 960 * (index + 1)], rows[first:last]))
        after = [current.done for current in passes]
        assert max(now - then for now, then in zip(after, before, strict=True)) <= 960
        if index >= 4:  # past the latency: the output keeps pace with the pushes
            assert outputs[-1].shape[1] == 960
        before = after
    outputs.append(stream.flush())
    assert torch.equal(torch.cat(outputs, 1), offline(pipeline, mono, rows))


def test_pushes_shorter_than_a_frame_leave_the_passes_whole_frames():
    # The passes' updates wait for the prior's frames; held to an 80-sample push they would run
    # every layer on 80 samples a push instead of on a frame at once.
    pipeline = tiny_with_priors()
    stream = pipeline.stream(generator=torch.Generator().manual_seed(0))
    mono, rows = speech_like(80 * 60), moving_positions(12)
    passes = stream._one.passes + stream._two.passes
    outputs, before, moves = [], [current.done for current in passes], []
    for index in range(60):
        first, last = -(-index * 80 // 400), -(-(index + 1) * 80 // 400)
        outputs.append(stream.push(mono[80 * index: 80 * (index + 1)], rows[first:last]))
        after = [current.done for current in passes]
        moves += [[now - then for now, then in zip(after, before, strict=True)]]
        before = after
    moves = [move for move in moves if any(move)]
    # After the first move (to the first frames' centre), a whole frame at a time.
    assert len(moves) > 5 and all(move == [400] * len(passes) for move in moves[1:])
    outputs.append(stream.flush())
    assert torch.equal(torch.cat(outputs, 1), offline(pipeline, mono, rows))


def test_bad_pushes_are_refused_clearly(tiny_pipeline):
    stream = tiny_pipeline.stream(generator=torch.Generator().manual_seed(0))
    rows = moving_positions(40)
    bad = speech_like(400)
    bad[7] = np.nan
    with pytest.raises(ValueError, match="mono_block contains NaN"):
        stream.push(bad, rows[:1])
    nan_rows = rows[:1].copy()
    nan_rows[0, 3] = np.inf
    with pytest.raises(ValueError, match="position_rows contains NaN or inf"):
        stream.push(speech_like(400), nan_rows)
    with pytest.raises(ValueError, match=r"\(k, 7\)"):
        stream.push(speech_like(400), rows[:1, :3])
    with pytest.raises(ValueError, match="13 frames ahead"):
        stream.push(speech_like(400), rows[:14])
    with pytest.raises(ValueError, match="13 frames behind"):
        stream.push(speech_like(400 * 13), rows[:0])
    assert stream.push(speech_like(800), rows[:2]).shape == (2, 800 - stream.latency_samples)


def test_nothing_after_flush_and_the_end_must_match():
    pipeline = make_tiny_pipeline(3)
    stream = pipeline.stream()
    stream.push(speech_like(900), moving_positions(2))
    with pytest.raises(ValueError, match=r"ceil\(900 / 400\) = 3 position rows, got 2"):
        stream.flush()
    stream = pipeline.stream()
    first = stream.push(speech_like(900), moving_positions(3))
    assert first.shape[1] + stream.flush().shape[1] == 900
    with pytest.raises(RuntimeError, match="after flush"):
        stream.push(speech_like(10), moving_positions(0))
    with pytest.raises(RuntimeError, match=r"flush\(\) after flush\(\)"):
        stream.flush()
    assert stream.samples_out == 900
    stream = pipeline.stream(overlap=True)
    stream.push(speech_like(900), moving_positions(3))
    stream.close()  # no flush: stage one's process ends, and so does the stream
    assert stream._one._process.poll() == 0
    with pytest.raises(RuntimeError, match=r"push\(\) after close\(\)"):
        stream.push(speech_like(10), moving_positions(0))


@cuda
def test_the_stream_on_a_gpu_is_its_offline_output():
    pipeline = tiny_with_priors().to("cuda")
    mono, rows = speech_like(3000), moving_positions(8)
    out, _ = streamed(pipeline, mono, rows, random_blocks(0, 700, 3000))
    torch.testing.assert_close(out, offline(pipeline, mono, rows), atol=1e-5, rtol=0)


def test_the_live_model_is_the_default_at_half_the_width():
    live = BinauralGradPipeline.from_pretrained(LIVE_MODEL_DIR)
    default = BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    for mine, theirs in ((live.stage_one, default.stage_one), (live.stage_two, default.stage_two)):
        assert mine.config.residual_channels * 2 == theirs.config.residual_channels
        assert mine.config.dilations == theirs.config.dilations  # the same latency
        assert mine.config.prior == theirs.config.prior  # learned head included


def test_with_the_matmul_kernels_the_stream_is_the_offline_output_to_one_rounding(monkeypatch):
    # Matrix products of a push's few rows round unlike a whole tile's: equal to 1 ulp, not bits.
    monkeypatch.setenv("BINAURALGRAD_TUNING", "off,backend=matmul,cache=0")
    pipeline, length = make_tiny_pipeline(3), 4321
    mono, rows = speech_like(length, 1), moving_positions(-(-length // 400))
    out, _ = streamed(pipeline, mono, rows, random_blocks(1, 60, length), seed=1)
    torch.testing.assert_close(out, offline(pipeline, mono, rows, seed=1), rtol=0, atol=2.4e-7)

