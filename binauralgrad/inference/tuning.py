"""The fast path's machine-dependent choices, measured once per machine instead of fixed.

Which convolution kernels, whether the conditioner cache pays and which tile length is fastest
differ between CPUs (a tile that stays in one CPU's cache spills another's; the cache trades
memory traffic for arithmetic). So on first use with a model shape, step count, dtype and thread
count, the fast path times short whole wavefronts of the pipeline's own two stages for each
candidate (`measure`: a few seconds, about 10 at paper size on 2 cores), keeps the fastest, and
stores the answer per machine and torch version in `tuning.json` under the cache folder
($BINAURALGRAD_CACHE, else $XDG_CACHE_HOME/binauralgrad, else ~/.cache/binauralgrad). Where
that folder cannot be written it warns and uses the built-in defaults, rather than measure
again on every call.

Overrides: `tile_seconds=` in the pipeline sets the tile. BINAURALGRAD_TUNING=off skips the
measurement and uses the built-in defaults; BINAURALGRAD_TUNING="tile=2048,cache=0,backend=matmul"
sets any of the three (the others as measured; "off,cache=0" on the defaults). Deleting the file
measures again.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import torch

from binauralgrad.inference.backends import GPU_TILE, mkldnn_ops_available, mkldnn_works
from binauralgrad.inference.timing import (
    MIN_ROUNDS,
    WavefrontProbe,
    relative_scores,
    round_robin,
)

TUNING_ENV = "BINAURALGRAD_TUNING"
CACHE_ENV = "BINAURALGRAD_CACHE"
TUNING_FILE = "tuning.json"
# Tiles of 8192 ran within 1 % of 2048-4096 on this project's Xeon (and one tile of 12000 was
# 3 % slower), while probing them would take half the measurement's budget at paper size.
CANDIDATE_TILES = (1024, 2048, 4096)
# The conditioner cache is weighed on speed alone, though it holds most of the working memory
# (about 2 GB at paper size; a memory budget, `max_memory_mb`, drops it where needed): a bar for
# it (10 %, then 3 %) left 6-8 % on the table at paper size on this project's Xeon, natively and
# with AVX2, where the probe saw it 2-4 % faster than the input it was chosen for did.
# Part of every stored key: raise it when a kernel or the measurement changes, so that choices
# made the old way are measured again.
KERNELS_REVISION = 8
# The measurement's time budget. At paper size a sample of both stages' six passes costs about
# 0.5 ms on 2 cores, so the probes are short and the rounds few there; small models get more.
BUDGET_S = 10.0
# The kernels are ranked on one pass per stage without the cache, over two tiles of this length:
# a kernel's cost is the same in every pass, and a quarter of a second a run leaves room for
# rounds. On an AMD EPYC at paper size oneDNN ran 1.06-1.17x matmul's time there (medians of
# eight rounds; 1.14-1.19x with AVX2 emulated), as on whole runs (1.07-1.21x). The kernels'
# probe with all six passes and the cache had room for one warm round in its share, and one
# round there put oneDNN level with matmul: that pick ran 1.23x slower.
KERNEL_PROBE_TILE = 1024
# Samples of the cache's probe (all passes of both stages, so that filling the cache once per
# stage is weighed against what it saves in each). At paper size on an AMD EPYC, 300 samples rank
# the candidates as whole runs do (medians of six rounds, matmul with and without the cache and
# oneDNN with and without: 1.00 / 1.09 / 1.27 / 1.35 at 300, 1.00 / 1.08 / 1.18 / 1.27 at 600)
# in a third of a second a run, so that its share holds five or six rounds.
CACHE_PROBE_SAMPLES = 300
# The kernels and the cache are the larger decisions (the candidates' whole runs differ by up to
# 40 %, the tiles' by about 5 %), and on a busy host two runs each did not rank them: with a share
# of 0.4, 3 of 10 fresh tunings on an AMD EPYC picked kernels 13-30 % slower than the fastest.
KERNEL_SHARE = 0.15  # of the budget, for the kernels: at least MIN_PROBE_ROUNDS rounds
CACHE_SHARE = 0.5  # for the cache; the tiles get the rest
# Rounds of each kernels or cache candidate before any leaves the turns: two warm ones. With one,
# a hiccup in it (matmul with the cache at 1.6x the round's fastest, where 13 other tunings in a
# row ranked it first) sent the fastest candidate away, and matmul without the cache was picked.
MIN_PROBE_ROUNDS = 3
# oneDNN's kernels replace matmul's only where they rank this much faster. Matmul's ran faster in
# every whole run measured, on an Intel Xeon (AVX-512 and AVX2) and an AMD EPYC, at every model
# size, and it follows the straightforward path more closely (2.2e-6 against 4.4e-6 at paper size);
# the kernels' probe, 5-20 % apart on a host that swings 10 % from run to run, still ranked oneDNN
# first in 2 of 14 fresh tunings on the EPYC, by 0.6 and 3.3 %.
ONEDNN_MARGIN = 1.05
# Candidates this much slower than the round's fastest in every warm round leave the turns
# (`round_robin`).
DROP_ABOVE = 1.1


@dataclass(frozen=True)
class Choice:
    """How the fast path runs on this machine.

    Attributes:
        tile: samples a wavefront node advances per tick.
        cache: keep every layer's projected condition (else project it again in each pass).
        backend: "mkldnn" (oneDNN's fused time-major convolutions), "matmul" or "auto".
        measured: whether this was measured here (False: a built-in default).
    """

    tile: int
    cache: bool
    backend: str
    measured: bool = False


# Without the conditioner cache: unmeasured, the fast path keeps to the smaller memory (the cache
# triples the working memory at paper size for a gain of 0-8 % where measured).
CPU_DEFAULT = Choice(tile=4096, cache=False, backend="auto")
GPU_DEFAULT = Choice(tile=GPU_TILE, cache=True, backend="auto")  # see `backends.select`


def cache_dir() -> Path:
    """Where the package keeps machine-local files."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "binauralgrad"


def machine_key(stages, dtype: torch.dtype, num_steps: int) -> str:
    """What a measured choice holds for: CPU, kernels, torch, threads, model shape, steps, dtype.

    Args:
        stages: the pipeline's (stage one, stage two) denoisers.
    """
    shapes = "+".join(f"{config.residual_layers}x{config.residual_channels}/"
                      f"{config.dilation_cycle_length}c{config.condition_channels}"
                      for config in (stage.config for stage in stages))
    return "|".join([f"kernels {KERNELS_REVISION}", _cpu_name(),
                     torch.backends.cpu.get_cpu_capability(),
                     os.environ.get("ONEDNN_MAX_CPU_ISA", ""), f"torch {torch.__version__}",
                     f"{torch.get_num_threads()} threads", shapes, f"{num_steps} steps",
                     str(dtype).split(".")[-1]])


def choose(stages, dtype: torch.dtype, device: torch.device, num_steps: int, *,
           progress: bool = False) -> Choice:
    """This machine's choice for a pipeline's stages: stored, else measured now and stored.

    Args:
        stages: the pipeline's (stage one, stage two) denoisers.
        dtype, device: where and in what the wavefront runs.
        num_steps: reverse steps per stage it samples with.
        progress: show the measurement's progress bar.
    """
    if device.type != "cpu":
        return GPU_DEFAULT
    off, overrides = parse_setting(os.environ.get(TUNING_ENV, ""))
    if off:
        return replace(CPU_DEFAULT, **overrides)
    path = cache_dir() / TUNING_FILE
    stored = _read(path).get(machine_key(stages, dtype, num_steps))
    if stored:
        return replace(Choice(**stored), **overrides)
    try:  # writing back what is there: a folder that cannot keep a choice would measure on
        _write(path, _read(path))  # every call, so it gets the defaults instead
    except OSError as error:
        _warn_unkept(path, error, "uses the built-in defaults")
        return replace(CPU_DEFAULT, **overrides)
    choice, _ = measure(stages, dtype, num_steps, progress=progress)
    store(stages, dtype, num_steps, choice)
    return replace(choice, **overrides)


def store(stages, dtype: torch.dtype, num_steps: int, choice: Choice) -> None:
    """Keeps `choice` as this machine's for the stages' shapes, step count and dtype."""
    path = cache_dir() / TUNING_FILE
    stored = _read(path)
    stored[machine_key(stages, dtype, num_steps)] = asdict(choice)
    try:
        _write(path, stored)
    except OSError as error:
        _warn_unkept(path, error, "will measure again next time")


def _warn_unkept(path: Path, error: OSError, consequence: str) -> None:
    warnings.warn(f"cannot keep the fast path's tuning in {path} ({error}); it {consequence}. "
                  f"Set {CACHE_ENV} to a writable folder to measure this machine once, or "
                  f"{TUNING_ENV} to choose (e.g. 'off')", RuntimeWarning, stacklevel=3)


def parse_setting(setting: str) -> tuple[bool, dict]:
    """BINAURALGRAD_TUNING's value -> (use the defaults, {field: forced value})."""
    off, overrides = False, {}
    for item in filter(None, (part.strip() for part in setting.lower().split(","))):
        name, _, value = item.partition("=")
        if not value:
            if name not in ("off", "0", "false", "no"):
                raise ValueError(f"{TUNING_ENV}: unknown setting {item!r} (expected 'off' or "
                                 "tile=N, cache=0/1, backend=mkldnn/matmul/auto)")
            off = True
        elif name == "tile" and value.isdigit() and int(value) > 0:
            overrides["tile"] = int(value)
        elif name == "cache" and value in ("0", "1", "off", "on"):
            overrides["cache"] = value in ("1", "on")
        elif name == "backend" and value in ("mkldnn", "matmul", "auto"):
            overrides["backend"] = value
        else:
            raise ValueError(f"{TUNING_ENV}: bad setting {item!r} (expected tile=N with N > 0, "
                             "cache=0/1, backend=mkldnn/matmul/auto)")
    return off, overrides


def measure(stages, dtype: torch.dtype, num_steps: int, *, tiles=CANDIDATE_TILES,
            budget_s: float = BUDGET_S, progress: bool = False,
            timer: Callable[[], float] = time.perf_counter) -> tuple[Choice, list[dict]]:
    """Ranks the candidates on short whole wavefronts of the model's two stages.

    1. Kernels: one pass per stage without the cache over two KERNEL_PROBE_TILE tiles
       (KERNEL_SHARE of `budget_s`, at least MIN_PROBE_ROUNDS rounds; skipped where only
       matmul runs).
    2. The cache, on or off with those kernels: both stages with all `num_steps` passes over
       CACHE_PROBE_SAMPLES samples, so that filling the cache once per stage is weighed
       against what it saves in every pass (CACHE_SHARE). This is the closest call of the
       three at paper size (5-12 %, against the kernels' 15-40 %), so it gets the most rounds.
    3. Tiles, with those kernels and cache: one pass per stage over two tiles, so that every
       node advances tile by tile as on a long input (a tile costs the same in every pass, so
       one pass ranks the tiles at a fraction of the cost), for what is left of `budget_s`.

    Each phase runs its candidates in turns (`round_robin`); the clearly slower ones leave
    where every warm round had them more than DROP_ABOVE behind, and the rest are ranked by
    their time over the fastest's in the same round (`relative_scores`).

    Args:
        stages: the pipeline's (stage one, stage two) denoisers (left unchanged).
        dtype: the compute dtype. num_steps: reverse steps per stage the pipeline samples with.
        tiles: the candidate tiles. budget_s: the measurement's time budget (see `round_robin`).
        progress: show a progress bar. timer: the clock (tests pass a fake one).

    Returns:
        (the choice, one row per candidate: phase, backend, tile, cache, runs, the fastest
        run's seconds per sample and its `relative_scores` score).
    """
    from tqdm.auto import tqdm

    began = timer()
    backends = candidate_backends(dtype)
    probe = WavefrontProbe(stages, dtype, backends, 2 * max(*tiles, KERNEL_PROBE_TILE))

    def all_passes(backend, cache):
        return (partial(probe.run, backend, cache, tile=CACHE_PROBE_SAMPLES,
                        length=CACHE_PROBE_SAMPLES, steps=num_steps),
                (backend, cache, CACHE_PROBE_SAMPLES), CACHE_PROBE_SAMPLES)

    def one_pass(backend, cache, tile):
        return (partial(probe.run, backend, cache, tile=tile, length=2 * tile, steps=1),
                (backend, cache, tile), 2 * tile)

    with tqdm(desc="tuning the fast path for this machine (once)", unit="run",
              disable=not progress, leave=False) as bar:

        def ranked(phase, candidates, budget, min_rounds=MIN_PROBE_ROUNDS):
            """{key: (run, its (backend, cache, tile), its samples)} -> (the best row, rows)."""
            samples = {key: work for key, (_, _, work) in candidates.items()}
            timings = round_robin({key: run for key, (run, _, _) in candidates.items()},
                                  budget_s=budget, timer=timer, min_rounds=min_rounds,
                                  drop_above=DROP_ABOVE, work=samples, on_run=bar.update)
            rows = _rows(phase, timings, {key: setting for key, (_, setting, _)
                                          in candidates.items()}, samples)
            return min(rows, key=lambda row: row["relative"]), rows

        rows, backend = [], backends[0]
        if len(backends) > 1:
            _, rows = ranked("kernels", {name: one_pass(name, False, KERNEL_PROBE_TILE)
                                         for name in backends}, budget_s * KERNEL_SHARE)
            score = {row["backend"]: row["relative"] for row in rows}
            backend = "mkldnn" if score["mkldnn"] * ONEDNN_MARGIN < score["matmul"] else "matmul"
        best, cache_rows = ranked("cache", {cache: all_passes(backend, cache)
                                            for cache in (True, False)},
                                  budget_s * (KERNEL_SHARE + CACHE_SHARE) - (timer() - began))
        cache = best["cache"]
        best, tile_rows = ranked("tile", {tile: one_pass(backend, cache, tile) for tile in tiles},
                                 budget_s - (timer() - began), MIN_ROUNDS)
    return Choice(tile=best["tile"], cache=cache, backend=backend, measured=True), \
        rows + cache_rows + tile_rows


def _rows(phase: str, timings: dict, settings: dict, samples: dict) -> list[dict]:
    """One row per candidate of a phase; `settings[key]` is its (backend, cache, tile)."""
    scores = relative_scores(timings, samples)
    rows = []
    for key, times in timings.items():
        backend, cache, tile = settings[key]
        rows.append({"phase": phase, "backend": backend, "tile": tile, "cache": cache,
                     "runs": len(times), "seconds_per_sample": min(times) / samples[key],
                     "relative": scores[key]})
    return rows


def candidate_backends(dtype: torch.dtype) -> list[str]:
    """The kernels the tuning weighs on this machine in `dtype`."""
    usable = mkldnn_ops_available() and dtype in (torch.float32, torch.bfloat16) \
        and mkldnn_works(dtype)
    return ["mkldnn", "matmul"] if usable else ["matmul"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, stored: dict) -> None:
    from binauralgrad.io.atomic import atomic_write

    atomic_write(path, lambda name: Path(name).write_text(json.dumps(stored, indent=1)),
                 overwrite=True)
