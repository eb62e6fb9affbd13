"""Per-machine tuning: whole wavefronts ranked in turns, stored per machine, overridable."""

from __future__ import annotations

import json
import os
from functools import partial

import pytest
import torch
from conftest import synthesize_moving

from binauralgrad.inference import timing, tuning
from binauralgrad.inference.timing import WavefrontProbe, round_robin
from binauralgrad.inference.tuning import CPU_DEFAULT, Choice, choose, measure, parse_setting

CPU = torch.device("cpu")


@pytest.fixture
def tuned(monkeypatch, tmp_path):
    """Tuning on, stored under a temporary folder."""
    monkeypatch.setenv(tuning.TUNING_ENV, "")
    monkeypatch.setenv(tuning.CACHE_ENV, str(tmp_path))
    return tmp_path / "tuning.json"


class Clock:
    """A fake clock that the fake runs move on."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_runs(monkeypatch, seconds_per_sample) -> tuple[Clock, list[dict]]:
    """Makes each probe run take seconds_per_sample(backend, tile, cache) per sample and pass,
    on a fake clock; returns the clock and the runs' arguments in order."""
    clock, calls = Clock(), []

    def run(self, backend, cache, *, tile, length, steps):
        calls.append({"backend": backend, "cache": cache, "tile": tile, "length": length,
                      "steps": steps})
        clock.now += seconds_per_sample(backend, tile, cache) * length * steps

    monkeypatch.setattr(WavefrontProbe, "run", run)
    return clock, calls


def stages_of(pipeline):
    return pipeline.stage_one, pipeline.stage_two


def test_the_fastest_candidates_win_every_phase(tiny, monkeypatch):
    clock, calls = fake_runs(monkeypatch, lambda backend, tile, cache:
                             (1.0 if backend == "matmul" else 2.0) / (1 + (tile == 2048))
                             * (0.8 if cache else 1.0))
    monkeypatch.setattr(tuning, "candidate_backends", lambda dtype: ["mkldnn", "matmul"])
    choice, rows = measure(stages_of(tiny), torch.float32, 6, timer=clock)
    assert choice == Choice(tile=2048, cache=True, backend="matmul", measured=True)
    assert [(row["phase"], row["backend"], row["cache"]) for row in rows[:4]] == \
        [("kernels", "mkldnn", False), ("kernels", "matmul", False),
         ("cache", "matmul", True), ("cache", "matmul", False)]
    assert [row["phase"] for row in rows[4:]] == ["tile"] * len(tuning.CANDIDATE_TILES)
    assert all(row["runs"] >= tuning.MIN_PROBE_ROUNDS for row in rows[:4])
    # Kernels on one pass per stage over two tiles; the cache with them on both stages' six
    # passes; then tiles with both, one pass over two tiles.
    rounds = 2 * tuning.MIN_PROBE_ROUNDS
    assert [(call["backend"], call["cache"], call["tile"], call["length"], call["steps"])
            for call in calls[:rounds]] == \
        [(name, False, tuning.KERNEL_PROBE_TILE, 2 * tuning.KERNEL_PROBE_TILE, 1)
         for name in ("mkldnn", "matmul", "matmul", "mkldnn", "mkldnn", "matmul")]
    cache_runs = [call for call in calls[rounds:] if call["steps"] == 6]
    assert {(call["backend"], call["tile"], call["length"]) for call in cache_runs} == \
        {("matmul", tuning.CACHE_PROBE_SAMPLES, tuning.CACHE_PROBE_SAMPLES)}
    tile_runs = calls[rounds + len(cache_runs):]
    assert all(call["steps"] == 1 and call["length"] == 2 * call["tile"] and
               (call["backend"], call["cache"]) == ("matmul", True) for call in tile_runs)


@pytest.mark.parametrize("onednn_time,picked", [(0.97, "matmul"), (0.9, "mkldnn")])
def test_onednn_replaces_matmul_only_where_clearly_faster(tiny, monkeypatch, onednn_time,
                                                          picked):
    clock, _ = fake_runs(monkeypatch, lambda backend, tile, cache:
                         onednn_time if backend == "mkldnn" else 1.0)
    monkeypatch.setattr(tuning, "candidate_backends", lambda dtype: ["mkldnn", "matmul"])
    assert measure(stages_of(tiny), torch.float32, 6, timer=clock)[0].backend == picked


def test_only_the_cache_is_weighed_where_only_matmul_runs(tiny, monkeypatch):
    clock, _ = fake_runs(monkeypatch, lambda backend, tile, cache: 1.0)
    monkeypatch.setattr(tuning, "candidate_backends", lambda dtype: ["matmul"])
    choice, rows = measure(stages_of(tiny), torch.float32, 6, timer=clock)
    assert choice.backend == "matmul" and "kernels" not in {row["phase"] for row in rows}


@pytest.mark.parametrize("gain,cached", [(0.98, False), (1.02, True)])
def test_the_cache_is_kept_where_it_is_faster(tiny, monkeypatch, gain, cached):
    clock, _ = fake_runs(monkeypatch, lambda backend, tile, cache: 1.0 / (gain if cache else 1))
    choice, _ = measure(stages_of(tiny), torch.float32, 6, timer=clock)
    assert choice.cache is cached


def timed_turns(seconds: dict[str, float]) -> tuple[Clock, list[str], dict]:
    """Runs that take `seconds[name]` on a fake clock: (the clock, the order they ran in, the
    runs for `round_robin`)."""
    clock, order = Clock(), []

    def run(name):
        order.append(name)
        clock.now += seconds[name]

    return clock, order, {name: partial(run, name) for name in seconds}


def test_candidates_take_turns_until_the_budget_is_spent():
    clock, order, runs = timed_turns(dict.fromkeys("abc", 1.0))  # a round takes 3 s
    times = round_robin(runs, budget_s=10.0, timer=clock)
    # Rounds 1 and 2 always; a third fits (9 s), a fourth would end at 12 s. Every other round
    # runs in reverse order.
    assert order == list("abc" + "cba" + "abc")
    assert times == {name: [1.0, 1.0, 1.0] for name in "abc"}
    order.clear()
    round_robin(runs, budget_s=0.0, timer=clock)
    assert len(order) == 3 * timing.MIN_ROUNDS
    order.clear()
    round_robin(runs, budget_s=1e9, timer=clock)
    assert len(order) == 3 * timing.MAX_ROUNDS


def test_clearly_slower_candidates_leave_the_turns():
    clock, order, runs = timed_turns({"a": 1.0, "b": 1.05, "c": 1.5})
    times = round_robin(runs, budget_s=10.0, timer=clock, drop_above=1.1)
    # Two rounds of all (7.1 s); c, 1.5x the fastest, leaves; a third round of a and b ends at
    # 9.15 s, a fourth would end at 11.2 s.
    assert order == list("abc" + "cba" + "ab")
    assert [len(times[name]) for name in "abc"] == [3, 3, 2]
    order.clear()
    round_robin({name: runs[name] for name in "ac"}, budget_s=1e9, timer=clock, drop_above=1.1)
    assert order == list("ac" + "ca")  # one left: nothing more to rank


def test_one_slow_round_does_not_send_the_fastest_away():
    # a hiccups in the second round; c is clearly slower in both warm rounds. Three rounds of all
    # (10.65 s), then a and b alone (2.05 s a round) while they fit 16 s.
    seconds = {"a": iter([1.0, 1.6, 1.0, 1.0, 1.0]), "b": iter([1.05] * 5), "c": iter([1.5] * 5)}
    clock, order, runs = timed_turns({})
    runs = {name: partial(lambda name: setattr(clock, "now", clock.now + next(seconds[name])),
                          name) for name in seconds}
    times = round_robin(runs, budget_s=16.0, timer=clock, min_rounds=3, drop_above=1.1)
    assert [len(times[name]) for name in "abc"] == [5, 5, 3]
    assert timing.round_ratios(times)["a"] == [pytest.approx(1.6 / 1.05), 1.0, 1.0, 1.0]
    assert timing.relative_scores(times)["a"] == 1.0


def test_a_round_ranks_the_runs_not_one_lucky_spell():
    # The machine sped up in the third round, and most for b: b's fastest run is the fastest of
    # all, but in two of the three warm rounds b is 10 % slower than a.
    times = {"a": [3.0, 1.0, 0.5, 1.0], "b": [3.0, 1.1, 0.45, 1.1], "c": [3.0, 1.3]}
    scores = timing.relative_scores(times)
    assert scores["a"] == 1.0 and scores["b"] == pytest.approx(1.1)
    assert scores["c"] == pytest.approx(1.3)  # its one warm round; the cold first is not ranked
    assert timing.relative_scores({"a": [1.0], "b": [2.0]}, {"a": 1, "b": 4}) == \
        {"a": 2.0, "b": 1.0}  # per unit of work; a single round is all there is


def test_a_real_measurement_gives_a_usable_choice(tiny):
    choice, rows = measure(stages_of(tiny), torch.float32, 2, tiles=(256, 512), budget_s=0.5)
    assert choice.measured and choice.tile in (256, 512)
    assert all(row["seconds_per_sample"] > 0 and row["runs"] >= 2 and row["relative"] >= 1
               for row in rows)


def test_a_choice_is_measured_once_per_machine_and_stored(tiny, tuned, monkeypatch):
    calls = []

    def counted(stages, dtype, num_steps, **_):
        calls.append(num_steps)
        return Choice(tile=512, cache=False, backend="matmul", measured=True), []

    monkeypatch.setattr(tuning, "measure", counted)
    first = choose(stages_of(tiny), torch.float32, CPU, 6)
    again = choose(stages_of(tiny), torch.float32, CPU, 6)
    assert first == again == Choice(512, False, "matmul", True) and calls == [6]
    stored = json.loads(tuned.read_text())
    key = tuning.machine_key(stages_of(tiny), torch.float32, 6)
    assert stored[key]["tile"] == 512 and f"torch {torch.__version__}" in key
    choose(stages_of(tiny), torch.float32, CPU, 3)  # another step count
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)  # another machine setting
    choose(stages_of(tiny), torch.float32, CPU, 6)
    assert calls == [6, 3, 6] and len(json.loads(tuned.read_text())) == 3


def test_settings_turn_tuning_off_or_force_fields(tiny, tuned, monkeypatch):
    monkeypatch.setenv(tuning.TUNING_ENV, "off")
    assert choose(stages_of(tiny), torch.float32, CPU, 6) == CPU_DEFAULT and not tuned.exists()
    monkeypatch.setenv(tuning.TUNING_ENV, "off, tile=1024, cache=1, backend=matmul")
    assert choose(stages_of(tiny), torch.float32, CPU, 6) == Choice(1024, True, "matmul")
    assert parse_setting("cache=on") == (False, {"cache": True})
    for bad in ("fast", "tile=0", "cache=maybe", "backend=cuda"):
        with pytest.raises(ValueError, match="BINAURALGRAD_TUNING"):
            parse_setting(bad)


def never_measured(*args, **kwargs):
    raise AssertionError("a choice that cannot be kept must not be measured on every call")


def test_a_read_only_cache_folder_falls_back_to_the_defaults(tiny, tuned, monkeypatch):
    folder = tuned.parent / "read-only"
    folder.mkdir(mode=0o500)
    try:
        (folder / "probe").touch()
    except PermissionError:
        pass
    else:  # root ignores the mode
        pytest.skip("file modes do not stop this user (root); see the next test")
    monkeypatch.setenv(tuning.CACHE_ENV, str(folder))
    monkeypatch.setattr(tuning, "measure", never_measured)
    with pytest.warns(RuntimeWarning, match="cannot keep the fast path's tuning"):
        assert choose(stages_of(tiny), torch.float32, CPU, 6) == CPU_DEFAULT
    assert os.listdir(folder) == []


def test_a_refused_write_falls_back_to_the_defaults_with_a_warning(tiny, tuned, monkeypatch):
    def refused(path, stored):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(tuning, "_write", refused)
    monkeypatch.setattr(tuning, "measure", never_measured)
    monkeypatch.setenv(tuning.TUNING_ENV, "tile=2048")  # forced fields still apply
    with pytest.warns(RuntimeWarning, match=r"cannot keep .*Permission denied.*BINAURALGRAD_CACHE"):
        choice = choose(stages_of(tiny), torch.float32, CPU, 6)
    assert choice == Choice(2048, CPU_DEFAULT.cache, CPU_DEFAULT.backend) and not tuned.exists()
    with pytest.warns(RuntimeWarning, match="will measure again next time"):
        tuning.store(stages_of(tiny), torch.float32, 6, choice)  # the benchmark's path


def test_tuned_synthesis_is_the_same_audio(tiny, tuned, unchunked, monkeypatch):
    monkeypatch.setattr(tuning, "measure", partial(measure, tiles=(256, 512), budget_s=0.5))
    tuned_audio = synthesize_moving(tiny, 6000).audio
    assert tuned.exists()
    assert (tuned_audio - unchunked.audio).abs().max() < 1e-5
