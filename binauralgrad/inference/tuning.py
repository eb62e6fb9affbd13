"""The fast path's machine-dependent choices, measured once per machine instead of fixed.

Which tile length, which convolution kernels and whether the conditioner cache pays differ
between CPUs (on one AVX-512 Xeon the cache buys 5 %, on AVX2 14 %; a tile that stays in one
CPU's cache spills another's). So on first use with a model shape, dtype and thread count, the
fast path times one pass of the model's own residual layers for each candidate, keeps the
fastest, and stores the answer per machine and torch version in `tuning.json` under the cache
folder ($BINAURALGRAD_CACHE, else $XDG_CACHE_HOME/binauralgrad, else ~/.cache/binauralgrad).

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from binauralgrad.inference.backends import GPU_TILE, mkldnn_ops_available, mkldnn_works
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.models.denoiser import BinauralDenoiser

TUNING_ENV = "BINAURALGRAD_TUNING"
CACHE_ENV = "BINAURALGRAD_CACHE"
CANDIDATE_TILES = (1024, 2048, 4096, 8192, 16384)
# The conditioner cache holds most of the working memory (about 2 GB at paper size): it is
# chosen only where it is at least this much faster.
CACHE_GAIN = 1.10
# Part of every stored key: raise it when a kernel changes, so that choices measured with the
# old kernels are measured again.
KERNELS_REVISION = 3


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


CPU_DEFAULT = Choice(tile=4096, cache=True, backend="auto")
GPU_DEFAULT = Choice(tile=GPU_TILE, cache=True, backend="auto")  # see `backends.select`


def cache_dir() -> Path:
    """Where the package keeps machine-local files."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "binauralgrad"


def machine_key(denoiser: BinauralDenoiser, dtype: torch.dtype) -> str:
    """What a measured choice holds for: CPU, kernels, torch, threads, model shape, dtype."""
    config = denoiser.config
    shape = (f"{config.residual_layers}x{config.residual_channels}/"
             f"{config.dilation_cycle_length}c{config.condition_channels}")
    return "|".join([f"kernels {KERNELS_REVISION}", _cpu_name(),
                     torch.backends.cpu.get_cpu_capability(),
                     os.environ.get("ONEDNN_MAX_CPU_ISA", ""), f"torch {torch.__version__}",
                     f"{torch.get_num_threads()} threads", shape, str(dtype).split(".")[-1]])


def choose(denoiser: BinauralDenoiser, dtype: torch.dtype, device: torch.device, *,
           progress: bool = False) -> Choice:
    """This machine's choice for a model: stored, else measured now and stored."""
    if device.type != "cpu":
        return GPU_DEFAULT
    off, overrides = parse_setting(os.environ.get(TUNING_ENV, ""))
    if off:
        return replace(CPU_DEFAULT, **overrides)
    stored = _read(cache_dir() / "tuning.json").get(machine_key(denoiser, dtype))
    if stored:
        return replace(Choice(**stored), **overrides)
    choice, _ = measure(denoiser, dtype, progress=progress)
    store(denoiser, dtype, choice)
    return replace(choice, **overrides)


def store(denoiser: BinauralDenoiser, dtype: torch.dtype, choice: Choice) -> None:
    """Keeps `choice` as this machine's for the model's shape and dtype."""
    path = cache_dir() / "tuning.json"
    stored = _read(path)
    stored[machine_key(denoiser, dtype)] = asdict(choice)
    try:
        _write(path, stored)
    except OSError:  # a read-only home still synthesises; it measures again next time
        pass


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


def measure(denoiser: BinauralDenoiser, dtype: torch.dtype, *, tiles=CANDIDATE_TILES,
            repeats: int = 2, progress: bool = False,
            timer: Callable[[], float] = time.perf_counter) -> tuple[Choice, list[dict]]:
    """Times one pass of the model's residual layers per (kernels, tile, cache) candidate.

    Returns:
        (the fastest choice, the timings as rows of backend, tile, cache and seconds per sample).
    """
    from tqdm.auto import tqdm

    backends = ["matmul"]
    if mkldnn_ops_available() and dtype in (torch.float32, torch.bfloat16) \
            and mkldnn_works(dtype):
        backends.insert(0, "mkldnn")
    candidates = [(backend, tile, cache) for backend in backends for tile in tiles
                  for cache in (True, False)]
    rows, models = [], {}
    for backend, tile, cache in tqdm(candidates, desc="tuning the fast path for this machine "
                                     "(once)", disable=not progress, leave=False):
        if backend not in models:
            models[backend] = FoldedDenoiser(denoiser, dtype=dtype, device="cpu", backend=backend)
        seconds = _time_pass(models[backend], tile, cache, repeats, timer)
        rows.append({"backend": backend, "tile": tile, "cache": cache,
                     "seconds_per_sample": seconds / tile})
    best = {cache: min((row for row in rows if row["cache"] == cache),
                       key=lambda row: row["seconds_per_sample"]) for cache in (True, False)}
    cached = best[True]["seconds_per_sample"] * CACHE_GAIN <= best[False]["seconds_per_sample"]
    winner = best[cached]
    return Choice(tile=winner["tile"], cache=cached, backend=winner["backend"],
                  measured=True), rows


def _time_pass(model: FoldedDenoiser, tile: int, cache: bool, repeats: int,
               timer: Callable[[], float], passes: int = 6) -> float:
    """Fewest seconds of `repeats` passes (after a warm-up) over `tile` interior samples.

    With the cache, a pass also carries its share of filling the cache (done once for the
    `passes` of a stage), so that the cache is weighed with what it costs.
    """
    generator = torch.Generator().manual_seed(0)
    reach = 2 * max(model.dilations)  # the widest layer's rows
    options = {"dtype": model.dtype, "device": model.device}
    start = torch.randn(1, tile + reach, 2 * model.channels, generator=generator) * 0.1
    condition = torch.randn(1, tile, model.config.condition_channels, generator=generator)
    condition = condition.to(**options)
    projected = [model.project_condition(condition, index) for index in
                 range(len(model.dilations))] if cache else None
    biases = model.step_biases(torch.tensor([0.5]))
    work = model.workspace(1, tile)
    rows = work.rows(0, tile + reach)
    best = float("inf")
    for attempt in range(repeats + 1):
        rows.copy_(start)  # the layers write over their rows; every pass starts the same
        filling = 0.0
        if cache:
            began = timer()
            for index, rows_of_layer in enumerate(projected):
                model.project_condition_into(rows_of_layer, condition, index)
            filling = (timer() - began) / passes
        began = timer()
        for index, dilation in enumerate(model.dilations):
            y = work.y[:, :tile]
            if cache:  # as the wavefront reads its ring
                torch.add(projected[index], biases[index][0], out=y)
            else:
                model.project_condition_into(y, condition, index, biases[index][0])
            # Interior samples (far from either edge), as almost all of a long input.
            model.layer(index, rows[:, : tile + 2 * dilation], y, biases[index], 10**6,
                        10**7, work)
        if attempt:
            best = min(best, timer() - began + filling)
    return best


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
