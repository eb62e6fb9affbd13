"""Exponential moving average of a model's weights, saved as safetensors in checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

EMA_FILE = "ema.safetensors"


class ExponentialMovingAverage:
    """Shadow weights w_ema <- d * w_ema + (1 - d) * w after each optimizer step, d = min(decay,
    (1 + n) / (10 + n)) after n updates.

    The shadow is kept in float32 on the model's device. `save`/`load` keep it in a checkpoint
    folder as safetensors: Accelerate's own custom-state files are pickles it loads with
    weights_only=False, which a checkpoint from elsewhere must never get.

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
        # Warm-up: early on the shadow would be mostly the random initial weights (0.999 ** 1000
        # is still 37 %), so the effective decay grows from 0.1 towards `decay`.
        decay = min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        for name, value in model.state_dict().items():
            if name in self.shadow:
                self.shadow[name].lerp_(value.detach().float(), 1.0 - decay)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Writes the averaged weights into `model` (e.g. a fresh copy for export)."""
        state = model.state_dict()
        for name, value in self.shadow.items():
            state[name].copy_(value.to(state[name].dtype))

    def save(self, folder: str | os.PathLike) -> Path:
        """Writes the shadow weights and counters to `folder/ema.safetensors`."""
        path = Path(folder) / EMA_FILE
        shadow = {name: value.contiguous().cpu() for name, value in self.shadow.items()}
        save_file(shadow, str(path), metadata={"decay": repr(self.decay),
                                               "num_updates": str(self.num_updates)})
        return path

    def load(self, folder: str | os.PathLike) -> None:
        """Restores what `save` wrote (no pickles involved)."""
        path = Path(folder) / EMA_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the checkpoint was saved without EMA")
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            shadow = {name: file.get_tensor(name) for name in file.keys()}
        if "decay" not in metadata or "num_updates" not in metadata:
            raise ValueError(f"{path} lacks the EMA counters")
        self.load_state_dict({"decay": float(metadata["decay"]),
                              "num_updates": int(metadata["num_updates"]), "shadow": shadow})

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
