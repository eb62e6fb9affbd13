"""Diffusion-step embedding: a sinusoidal table over the training steps followed by an MLP."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

TABLE_FREQUENCIES = 64  # sin + cos -> 128 features
EMBEDDING_WIDTH = 512


def sinusoidal_table(num_steps: int) -> torch.Tensor:
    """(num_steps, 128) table: `[sin(s * 10^(4j/63)), cos(s * 10^(4j/63))]` for j = 0..63."""
    steps = torch.arange(num_steps, dtype=torch.float32).unsqueeze(1)
    exponents = torch.arange(TABLE_FREQUENCIES, dtype=torch.float32).unsqueeze(0)
    table = steps * 10.0 ** (exponents * 4.0 / (TABLE_FREQUENCIES - 1))
    return torch.cat([torch.sin(table), torch.cos(table)], dim=1)


class DiffusionStepEmbedding(nn.Module):
    """Maps (possibly fractional) diffusion steps to a 512-wide embedding.

    Integer steps index the table; a fractional step (the fast sampler's continuous step
    alignment) interpolates linearly between the rows floor(t) and ceil(t).
    """

    def __init__(self, num_steps: int):
        super().__init__()
        # Not persistent: derived from num_steps, so checkpoints carry only the MLP.
        self.register_buffer("table", sinusoidal_table(num_steps), persistent=False)
        self.projection1 = nn.Linear(2 * TABLE_FREQUENCIES, EMBEDDING_WIDTH)
        self.projection2 = nn.Linear(EMBEDDING_WIDTH, EMBEDDING_WIDTH)

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Args: timesteps (B,) integer or float. Returns: (B, 512)."""
        if timesteps.is_floating_point():
            low_index = torch.floor(timesteps).long()
            high_index = torch.ceil(timesteps).long()
            low, high = self.table[low_index], self.table[high_index]
            weight = (timesteps - low_index).unsqueeze(-1).to(low.dtype)
            features = low + (high - low) * weight
        else:
            features = self.table[timesteps]
        hidden = F.silu(self.projection1(features))
        return F.silu(self.projection2(hidden))
