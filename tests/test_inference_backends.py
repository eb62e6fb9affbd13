"""The convolution backends: oneDNN and matmul agree, and unusable oneDNN ops fall back."""

from __future__ import annotations

import pytest
import torch
from conftest import moving_positions, speech_like, synthesize_moving

from binauralgrad.dsp import geometric_warp
from binauralgrad.inference import backends
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.sources import Windows
from binauralgrad.inference.wavefront import run_wavefront
from binauralgrad.inputs import prepare_inputs


def test_both_backends_agree(tiny):
    inputs = prepare_inputs(speech_like(1200), moving_positions(3))
    windows = Windows(geometric_warp(inputs.mono, inputs.positions), inputs.mono,
                      inputs.positions, [0], [0], 1200)
    steps, noise = tiny.schedule.sampling_steps("fast"), PositionalNoise(7)
    outputs = [run_wavefront(*(FoldedDenoiser(stage, backend=backend)
                               for stage in (tiny.stage_one, tiny.stage_two)),
                             steps, windows, noise, tile=256)[1]
               for backend in ("matmul", "auto")]
    assert (outputs[0] - outputs[1]).abs().max() < 1e-5


def test_unusable_onednn_ops_fall_back_to_matmul_with_a_warning(tiny, monkeypatch):
    if not backends.mkldnn_ops_available():
        pytest.skip("no oneDNN on this build: the fallback is the only path")

    def broken(*args, **kwargs):
        raise RuntimeError("no such op in this torch")

    monkeypatch.setattr(backends.MkldnnConv, "conv", staticmethod(broken))
    with pytest.warns(RuntimeWarning, match="matmul convolutions"):
        model = FoldedDenoiser(tiny.stage_one)
    assert model.ops is backends.MatmulConv
    reference = synthesize_moving(tiny, 1200, implementation="reference")
    with pytest.warns(RuntimeWarning):
        fallback = synthesize_moving(tiny, 1200)
    assert (fallback.audio - reference.audio).abs().max() < 1e-4


def test_select_gives_a_cpu_its_defaults_and_the_users_budget(monkeypatch):
    monkeypatch.setenv("BINAURALGRAD_TUNING", "off")
    chosen = backends.select("cpu", torch.float32, max_memory_mb=5)
    assert (chosen.tile, chosen.cache, chosen.memory_mb, chosen.dtype) == \
        (4096, False, 5, torch.float32)
    assert backends.select("cpu", torch.float32).memory_mb is None  # no limit on a CPU unless asked
