"""The reference sampler reproduces the original implementation's sampling with its noise."""

from __future__ import annotations

import pytest
import torch
from conftest import load_npz

from binauralgrad import NoiseSchedule
from binauralgrad.inference.reference import sample_stage


@pytest.mark.parametrize("stage,name", [(1, "one"), (2, "two")])
def test_sampling_matches_the_original_with_its_noise(original_denoisers, stage, name):
    data = load_npz(f"sampling_stage_{name}_small.npz")
    conditions = {"warped": data["geowarp"][None], "mono": data["mono"][None],
                  "positions": data["positions"].T[None]}
    if stage == 2:
        conditions["mean"] = data["mean_condition"][None]
    draws = iter([data["initial_noise"][None], *data["step_noise"]])
    with torch.no_grad():
        sample = sample_stage(original_denoisers[stage], NoiseSchedule(), conditions,
                              lambda shape: next(draws))
    torch.testing.assert_close(sample[0], data["output"], atol=1e-5, rtol=0)
