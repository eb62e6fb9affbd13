"""The benchmark's memory section: the resident-set peak of a fresh process per input length."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

from common import SCRIPT, pipeline_of, synthesize, test_signal

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.inference import tuning


def peak_memory_mb(size: str, seconds: float, stop_after_s: float | None,
                   setting: str | None = None) -> float:
    """Resident-set high-water mark (MB) of a fresh process synthesising `seconds` of audio.

    With `stop_after_s`, the process stops once that much output is done: the wavefront's
    working set is complete after about a second of output (it stays flat from there), so long
    inputs need not be synthesised to the end to measure it. The whole-signal arrays (inputs,
    warp, outputs) are allocated up front, so they are counted either way.
    """
    command = [sys.executable, str(SCRIPT), "--memory-child", size, str(seconds), str(stop_after_s)]
    env = dict(os.environ)
    if setting is not None:  # a BINAURALGRAD_TUNING setting, such as "cache=0"
        env[tuning.TUNING_ENV] = setting
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return float(result.stdout.strip().splitlines()[-1])


def memory_child(size: str, seconds: float, stop_after_s: float | None) -> None:
    import binauralgrad.inference.sampler as sampler_module

    class Stop(Exception):
        pass

    wavefront = sampler_module.run_wavefront

    def stopping(*args, on_progress, **kwargs):
        def report(done: int) -> None:
            on_progress(done)
            if stop_after_s is not None and done >= stop_after_s * SAMPLE_RATE:
                raise Stop

        return wavefront(*args, on_progress=report, **kwargs)

    sampler_module.run_wavefront = stopping
    mono, positions = test_signal(seconds)
    try:
        synthesize(pipeline_of(size), mono, positions)
    except Stop:
        pass
    print(resident_peak_mb())


def resident_peak_mb() -> float:
    """This process's resident-set high-water mark in MB.

    Linux's VmHWM belongs to the process's own address space; getrusage's ru_maxrss is carried
    across exec from the forking parent, so a child of a large benchmark process would report
    the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def memory_rows(size: str, lengths: list[float], stop_after_s: float | None,
                setting: str | None = None) -> list[dict]:
    rows = [{"size": size if setting is None else f"{size}, {setting}", "audio_s": seconds,
             "stopped_after_s": stop_after_s,
             "peak_mb": peak_memory_mb(size, seconds, stop_after_s, setting)}
            for seconds in lengths]
    for row in rows:
        row["ratio_to_first"] = row["peak_mb"] / rows[0]["peak_mb"]
    return rows
