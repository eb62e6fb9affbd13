"""Per-machine tuning: the fastest measured candidate, stored per machine, overridable."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import synthesize_moving

from binauralgrad.inference import tuning
from binauralgrad.inference.tuning import CPU_DEFAULT, Choice, choose, measure, parse_setting

CPU = torch.device("cpu")


@pytest.fixture
def tuned(monkeypatch, tmp_path):
    """Tuning on, stored under a temporary folder."""
    monkeypatch.setenv(tuning.TUNING_ENV, "")
    monkeypatch.setenv(tuning.CACHE_ENV, str(tmp_path))
    return tmp_path / "tuning.json"


def fake_timings(monkeypatch, seconds_per_sample):
    """Makes each candidate's pass take seconds_per_sample(backend, tile, cache) per sample."""
    def timed(model, tile, cache, repeats, timer):
        return seconds_per_sample(model.ops.name, tile, cache) * tile

    monkeypatch.setattr(tuning, "_time_pass", timed)


def test_the_fastest_candidate_wins(tiny, monkeypatch):
    fake_timings(monkeypatch, lambda backend, tile, cache:
                 (1.0 if backend == "matmul" else 2.0) / (1 + (tile == 2048)) * (0.8 if cache
                                                                                    else 1.0))
    choice, rows = measure(tiny.stage_one, torch.float32)
    assert choice == Choice(tile=2048, cache=True, backend="matmul", measured=True)
    assert len(rows) == len(tuning.CANDIDATE_TILES) * 2 * len({row["backend"] for row in rows})


@pytest.mark.parametrize("gain,cached", [(1.05, False), (1.12, True)])
def test_the_cache_is_kept_only_for_a_ten_percent_gain(tiny, monkeypatch, gain, cached):
    fake_timings(monkeypatch, lambda backend, tile, cache: 1.0 / (gain if cache else 1.0))
    choice, _ = measure(tiny.stage_one, torch.float32)
    assert choice.cache is cached


def test_a_real_measurement_gives_a_usable_choice(tiny):
    choice, rows = measure(tiny.stage_one, torch.float32, tiles=(256, 512), repeats=1)
    assert choice.measured and choice.tile in (256, 512)
    assert all(row["seconds_per_sample"] > 0 for row in rows)


def test_a_choice_is_measured_once_per_machine_and_stored(tiny, tuned, monkeypatch):
    calls = []

    def counted(denoiser, dtype, **_):
        calls.append(dtype)
        return Choice(tile=512, cache=False, backend="matmul", measured=True), []

    monkeypatch.setattr(tuning, "measure", counted)
    first = choose(tiny.stage_one, torch.float32, CPU)
    again = choose(tiny.stage_one, torch.float32, CPU)
    assert first == again == Choice(512, False, "matmul", True) and len(calls) == 1
    stored = json.loads(tuned.read_text())
    key = tuning.machine_key(tiny.stage_one, torch.float32)
    assert stored[key]["tile"] == 512 and f"torch {torch.__version__}" in key
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)  # another machine setting
    choose(tiny.stage_one, torch.float32, CPU)
    assert len(calls) == 2 and len(json.loads(tuned.read_text())) == 2


def test_settings_turn_tuning_off_or_force_fields(tiny, tuned, monkeypatch):
    monkeypatch.setenv(tuning.TUNING_ENV, "off")
    assert choose(tiny.stage_one, torch.float32, CPU) == CPU_DEFAULT and not tuned.exists()
    monkeypatch.setenv(tuning.TUNING_ENV, "off, tile=1024, cache=0, backend=matmul")
    assert choose(tiny.stage_one, torch.float32, CPU) == Choice(1024, False, "matmul")
    assert parse_setting("cache=on") == (False, {"cache": True})
    for bad in ("fast", "tile=0", "cache=maybe", "backend=cuda"):
        with pytest.raises(ValueError, match="BINAURALGRAD_TUNING"):
            parse_setting(bad)


def test_tuned_synthesis_is_the_same_audio(tiny, tuned, unchunked):
    tuned_audio = synthesize_moving(tiny, 6000).audio
    assert tuned.exists()
    assert (tuned_audio - unchunked.audio).abs().max() < 1e-5
