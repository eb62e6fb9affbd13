"""examples/script.py's synthesis and memory lines, run on the tiny model (figures, not speed)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[1] / "examples" / "benchmark.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("speed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Timed synthesis of the script: its fresh-process memory rows stay in the default suite.
@pytest.mark.slow
def test_variant_rows_compare_each_path_with_the_first(script):
    variants = {"reference": {"implementation": "reference"}, "fast": {},
                "chunked": {"chunk_seconds": 0.02, "overlap_seconds": 0.0,
                            "crossfade_seconds": 0.0}}
    rows = script.variant_rows(script.pipeline_of("tiny"), 0.1, variants, repeats=1)
    assert [row["variant"] for row in rows] == list(variants)
    assert rows[0]["speedup"] == 1 and rows[0]["max_dev"] == 0
    assert all(row["rtf"] > 0 and row["audio_s"] == 0.1 for row in rows)
    assert rows[1]["max_dev"] < 1e-4  # the fast path is the reference's function
    assert rows[2]["max_dev"] > rows[1]["max_dev"]  # chunks without context leave seams


def test_variant_settings_force_one_piece_and_keep_the_audio(script, monkeypatch):
    from binauralgrad.inference import tuning

    monkeypatch.setenv(tuning.TUNING_ENV, "off")
    # "off,...": the built-in defaults with one piece forced, whatever this machine's stored
    # tuning says (a measured choice may pick other kernels, which round differently).
    variants = {"default": {}, "no cache": {"setting": "off,cache=0"},
                "tile 256": {"setting": "off,tile=256"},
                "matmul": {"setting": "off,backend=matmul"}}
    variants["bfloat16"] = {"dtype": torch.bfloat16}
    rows = script.variant_rows(script.pipeline_of("tiny"), 0.05, variants, repeats=1,
                               limits={torch.float32: 100.0, torch.bfloat16: 400.0},
                               limit_seconds=0.01)
    assert [row["max_dev"] for row in rows[:3]] == [0.0, 0.0, 0.0]  # exact by design
    assert rows[3]["max_dev"] < 1e-5  # other kernels round differently
    assert all(row["gflops"] > 0 and row["of_peak"] == row["gflops"] / 100 for row in rows[:4])
    assert rows[4]["of_peak"] == rows[4]["gflops"] / 400  # each dtype against its own limit
    assert rows[0]["limit_gflops"] > 0 and rows[4]["limit_gflops"] > 0
    assert all(row["of_limit"] == row["gflops"] / row["limit_gflops"] for row in rows)
    assert [row["limit_dtype"] for row in rows] == ["float32"] * 4 + ["bfloat16"]
    assert tuning.parse_setting(tuning.os.environ[tuning.TUNING_ENV]) == (True, {})


def test_variants_take_turns_in_alternating_order_beside_the_sustained_limit(script,
                                                                              monkeypatch):
    import common

    calls = []

    def fake_synthesize(pipeline, mono, positions, tag):
        calls.append(tag)
        return torch.zeros(1, 2, mono.shape[-1])

    def fake_rate(config, dtype, seconds):
        calls.append(f"limit {seconds}")
        return [50.0, 80.0, 60.0][sum(call.startswith("limit") for call in calls) - 1]

    monkeypatch.setattr(common, "synthesize", fake_synthesize)
    monkeypatch.setattr(common, "sustained_gemm_rate", fake_rate)
    variants = {name: {"tag": name} for name in "abc"}
    rows = script.variant_rows(script.pipeline_of("tiny"), 0.01, variants, repeats=3,
                               limits={torch.float32: 100.0}, limit_seconds=0.5)
    # Each round measures the limit first; every other round runs the variants in reverse.
    assert calls == ["limit 0.5", "a", "b", "c", "limit 0.5", "c", "b", "a",
                     "limit 0.5", "a", "b", "c"]
    assert all(row["limit_gflops"] == 80.0 and row["peak_gflops"] == 100.0 for row in rows)


def test_sustained_rate_runs_the_products_for_its_stretch():
    import time

    from binauralgrad import DenoiserConfig
    from binauralgrad.evaluation.speed import sustained_gemm_rate

    config = DenoiserConfig(residual_channels=8)
    start = time.perf_counter()
    rate = sustained_gemm_rate(config, seconds=0.05, rows=64)
    assert time.perf_counter() - start >= 0.05 and rate > 0
    assert sustained_gemm_rate(config, seconds=0.0, rows=64) > 0  # at least one round


def test_synthesis_flops_count_the_paper_models_products():
    from binauralgrad import DenoiserConfig
    from binauralgrad.evaluation.speed import gemm_limit, synthesis_flops

    configs = [DenoiserConfig.stage_one(), DenoiserConfig.stage_two()]
    # 30 layers x (3 x 128 x 256 + 128 x 256) multiply-adds per pass, 12 passes, and the
    # conditioner projections (30 x 80 x 256) once per stage: about 97 MFLOP per sample.
    flops = synthesis_flops(configs, 6)
    assert 12 * 30 * 2 * 4 * 128 * 256 < flops < 1.05 * 12 * 30 * 2 * 4 * 128 * 256
    rates = gemm_limit(DenoiserConfig(residual_channels=8), rows=64, repeats=1)
    assert min(rates["dilated"], rates["output"]) <= rates["layer"] <= max(
        rates["dilated"], rates["output"])


def test_test_signal_is_continuous_across_its_seconds(script):
    mono, positions = script.test_signal(2.5)
    assert mono.shape == (120_000,) and positions.shape == (300, 7)
    assert mono.abs().max() < 0.2 and mono[47_990:48_010].diff().abs().max() < 0.01


def test_memory_rows_measure_fresh_processes(script):
    rows = script.memory_rows("tiny", [0.1, 0.2], None)
    assert [row["audio_s"] for row in rows] == [0.1, 0.2]
    assert all(100 < row["peak_mb"] < 4000 for row in rows)  # torch alone is ~200 MB
    assert rows[0]["ratio_to_first"] == 1



# Timed synthesis of the script: its fresh-process memory rows stay in the default suite.
@pytest.mark.slow
def test_default_model_rows_time_the_embedded_pipeline(script):
    rows = script.default_model_rows(0.05, repeats=1)
    assert [row["variant"].split(",")[0] for row in rows] == ["embedded default"] * 2
    assert rows[1]["max_dev"] < 1e-4 and rows[1]["rtf"] > 0


# Timed synthesis of the script: its fresh-process memory rows stay in the default suite.
@pytest.mark.slow
def test_stream_rows_report_latency_rtf_and_the_slowest_block(script):
    rows = script.stream_rows(0.1, 0.05, blocks_ms=(10, 50), names=("tiny",))
    assert [row["block_ms"] for row in rows] == [10, 50]
    assert all(row["latency_ms"] == 76 / 48 and row["rtf"] > 0 and row["worst_block_ms"] > 0
               for row in rows)
    assert all(row["max_dev"] == 0 for row in rows)  # the stream is the offline output


def test_the_tuning_check_puts_the_stored_choice_against_every_forced_candidate(
        script, monkeypatch, tmp_path, capsys):
    from functools import partial

    from binauralgrad.inference import tuning

    monkeypatch.setenv(tuning.TUNING_ENV, "")
    monkeypatch.setenv(tuning.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(tuning, "measure", partial(tuning.measure, tiles=(256, 512),
                                                   budget_s=0.2))
    rows = script.tuning_check_rows("tiny", 0.05, 1, tiles=(256, 512))
    backends = tuning.candidate_backends(torch.float32)
    assert len(rows) == 1 + len(backends) * 2 * 2 and rows[0]["variant"].startswith("stored")
    assert min(row["of_best"] for row in rows[1:]) == 1.0 and rows[0]["of_best"] > 0
    assert all(row["max_dev"] < 1e-5 for row in rows)  # every candidate: the same audio
    script.print_tuning_check("check", rows)
    assert "the time of the fastest forced candidate" in capsys.readouterr().out



def test_the_tuning_spread_times_each_fresh_pick_against_the_fastest_candidate(
        script, monkeypatch, tmp_path, capsys):
    from binauralgrad.inference import tuning

    monkeypatch.setenv(tuning.TUNING_ENV, "")
    monkeypatch.setenv(tuning.CACHE_ENV, str(tmp_path))
    measured, unpatched = [], tuning.measure

    def measure(*args, **options):
        measured.append(os.getpid())
        return unpatched(*args, **options, tiles=(256, 512), budget_s=0.2)

    monkeypatch.setattr(tuning, "measure", measure)
    spread = script.tuning_spread_rows("tiny", 0.05, 2, 1, tiles=(256, 512), budget_s=0.2)
    # The check measures here, into the user's folder; each tuning in a process of its own.
    assert measured == [os.getpid()] and (tmp_path / tuning.TUNING_FILE).exists()
    assert [row["tuning"] for row in spread["tunings"]] == [1, 2]
    assert all(row["of_best"] > 0 and row["tile"] in (256, 512) for row in spread["tunings"])
    assert all(row["forced_of_best"] >= 1 for row in spread["tunings"])
    # A pick that is the fastest candidate is not timed against itself.
    assert all((row["seconds"] is None) == (row["forced_of_best"] == 1.0) and
               (row["seconds"] is not None or row["of_best"] == 1.0) for row in spread["tunings"])
    script.print_tuning_spread("spread", spread)
    assert "of 2 picks within 5 % of the fastest" in capsys.readouterr().out


def test_a_stream_run_is_real_time_when_95_percent_of_pushes_are_on_time():
    from binauralgrad.evaluation.speed import StreamRun

    block = 480  # 10 ms
    run = StreamRun(audio=torch.zeros(2, 20 * block), block_samples=block, latency_samples=0)
    run.block_seconds = [0.005] * 19 + [0.012, 0.002]  # one slow push, then the flush
    run.lag_seconds = [0.005] * 19 + [0.012, 0.0]
    assert run.p95_block_seconds == 0.005 and run.worst_block_seconds == 0.012
    assert run.on_time_share == 0.95 and run.real_time and not run.kept_up
    run.lag_seconds[18] = 0.011  # a second late push: 90 % on time
    assert run.on_time_share == 0.9 and not run.real_time
    run.lag_seconds[18] = 0.005
    run.block_seconds = [0.011] * 20 + [0.002]  # every push on time by lag, yet RTF above 1
    assert run.rtf > 1 and not run.real_time
    summary = run.summary()
    assert summary["p95_block_ms"] == pytest.approx(11.0) and summary["on_time_share"] == 0.95


def test_a_stream_run_with_overlapped_stages_lags_a_push_more(tiny_pipeline):
    from conftest import moving_positions, speech_like

    from binauralgrad.evaluation.speed import run_stream

    mono, rows = speech_like(2400), moving_positions(6)
    runs = [run_stream(tiny_pipeline, mono, rows, 480, generator=torch.Generator().manual_seed(0),
                       overlap=overlap) for overlap in (False, True)]
    assert runs[1].overlap and not runs[0].overlap
    assert runs[1].latency_samples == runs[0].latency_samples + 480
    assert torch.equal(runs[0].audio, runs[1].audio)
