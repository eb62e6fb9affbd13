"""What synthesis costs in arithmetic, and how fast this machine's matrix products can do it.

The benchmark divides the first by a run's time and compares the rate with the second: how
close a path comes to the machine's own limit, whatever the CPU.
"""

from __future__ import annotations

import time

import torch

from binauralgrad.models.config import DenoiserConfig


def layer_flops(config: DenoiserConfig) -> tuple[int, int]:
    """Multiply-adds x 2 per sample of one residual layer: (dilated convolution, output)."""
    width = config.residual_channels
    return 2 * 3 * width * 2 * width, 2 * width * 2 * width


def synthesis_flops(configs: list[DenoiserConfig], num_steps: int) -> float:
    """Floating-point operations per output sample of both stages' `num_steps` passes.

    Counts the matrix products the fast path cannot avoid: every pass's dilated and output
    convolutions, skip and head projections, and each stage's conditioner projections once (as
    the conditioner cache computes them). Elementwise work and the small condition encoder are
    left out, so the rate it gives is a lower bound.
    """
    total = 0.0
    for config in configs:
        dilated, output = layer_flops(config)
        width = config.residual_channels
        per_pass = config.residual_layers * (dilated + output) + 2 * width * width \
            + 2 * width * config.out_channels
        projections = config.residual_layers * 2 * config.condition_channels * 2 * width
        total += num_steps * per_pass + projections
    return total


def gemm_limit(config: DenoiserConfig, dtype: torch.dtype = torch.float32, rows: int = 4096,
               repeats: int = 5) -> dict:
    """This machine's matrix-product rate at the shapes of the model's residual layers.

    Times time-major (rows x 3R) @ (3R x 2R) and (rows x R) @ (R x 2R) products, as the dilated
    and output convolutions are, and weighs them as a layer does.

    Returns:
        {"dilated": GFLOP/s, "output": GFLOP/s, "layer": GFLOP/s of the two in a layer's mix}.
    """
    width = config.residual_channels
    generator = torch.Generator().manual_seed(0)
    rates = {}
    for name, inner in (("dilated", 3 * width), ("output", width)):
        left = torch.randn(rows, inner, generator=generator).to(dtype)
        right = torch.randn(inner, 2 * width, generator=generator).to(dtype)
        out = torch.empty(rows, 2 * width, dtype=dtype)
        for _ in range(2):  # warm-up
            torch.matmul(left, right, out=out)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(left, right, out=out)
            best = min(best, time.perf_counter() - start)
        rates[name] = 2 * rows * inner * 2 * width / best / 1e9
    dilated, output = layer_flops(config)
    rates["layer"] = (dilated + output) / (dilated / rates["dilated"] + output / rates["output"])
    return rates
