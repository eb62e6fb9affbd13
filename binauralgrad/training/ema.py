"""Exponential moving average of a model's weights, checkpointed with Accelerate's state."""

from __future__ import annotations

import torch
from torch import nn


class ExponentialMovingAverage:
    """Shadow weights w_ema <- decay * w_ema + (1 - decay) * w, updated after each optimizer step.

    The shadow is kept in float32 on the model's device; `state_dict`/`load_state_dict` make it
    an object `accelerator.register_for_checkpointing` can save and restore.

    Args:
        model: the (unwrapped) model whose floating-point parameters and buffers are averaged.
        decay: in (0, 1); e.g. 0.999.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay!r}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: value.detach().float().clone()
                       for name, value in model.state_dict().items() if value.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Moves the shadow towards the model's current weights."""
        for name, value in model.state_dict().items():
            if name in self.shadow:
                self.shadow[name].lerp_(value.detach().float(), 1.0 - self.decay)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Writes the averaged weights into `model` (e.g. a fresh copy for export)."""
        state = model.state_dict()
        for name, value in self.shadow.items():
            state[name].copy_(value.to(state[name].dtype))

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise ValueError(f"EMA state does not fit the model (keys: {sorted(missing)})")
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
