"""The exponential moving average of the weights: averaging, round trips, safetensors."""

from __future__ import annotations

import pytest
import torch

from binauralgrad.training.ema import ExponentialMovingAverage


def test_ema_averages_and_round_trips():
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.5)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)  # warm-up: the first update uses decay 1/10, not 0.5
    assert torch.allclose(ema.shadow["weight"], start + 2.0 * 0.9)
    for _ in range(20):
        ema.update(model)  # (1 + n) / (10 + n) has passed 0.5: the decay is now 0.5
    assert torch.allclose(ema.shadow["weight"], start + 2.0, atol=1e-5)
    other = ExponentialMovingAverage(torch.nn.Linear(2, 1), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.5 and torch.equal(other.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(ValueError, match="decay"):
        ExponentialMovingAverage(model, decay=1.5)


def test_ema_saves_and_loads_safetensors(tmp_path):
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.75)
    ema.update(model)
    ema.save(tmp_path)
    other = ExponentialMovingAverage(torch.nn.Linear(2, 1), decay=0.1)
    other.load(tmp_path)
    assert (other.decay, other.num_updates) == (0.75, 1)
    assert all(torch.equal(other.shadow[name], ema.shadow[name]) for name in ema.shadow)
    with pytest.raises(FileNotFoundError, match="without EMA"):
        other.load(tmp_path / "absent")
