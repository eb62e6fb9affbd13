"""Where the wavefront runs: kernels, compute dtype, default tile and memory budget per device.

`select` is the one place a device's choices are made (a GPU path goes here): the convolution
kernels (oneDNN's fused ones on CPU, matrix products anywhere), the tile and conditioner cache
(measured per CPU by `tuning`, fixed on GPU) and the working-memory budget.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class Backend:
    """A device's choices for the wavefront (see `select`).

    Attributes:
        kernels: "mkldnn" (oneDNN's fused time-major convolutions), "matmul" or "auto".
        dtype: the compute dtype actually used (`resolve_dtype`).
        tile: samples a wavefront node advances per tick.
        cache: keep every layer's projected condition (else project it again in each pass).
        memory_mb: the working-memory budget, or None for no limit.
    """

    kernels: str
    dtype: torch.dtype
    tile: int
    cache: bool
    memory_mb: float | None = None


GPU_TILE = 2**18  # a GPU's kernels want long tiles; the budget lowers it where memory is short


def select(device: torch.device | str, dtype: torch.dtype, *, stages=None,
           num_steps: int | None = None, max_memory_mb: float | None = None,
           progress: bool = False) -> Backend:
    """The kernels, dtype, default tile, cache and memory budget for `device`.

    Args:
        device, dtype: where and in what the wavefront is asked to run.
        stages: the pipeline's (stage one, stage two) denoisers, which a CPU's tuning measures
            sampling with `num_steps` reverse steps per stage (None: the defaults).
        max_memory_mb: the user's budget; on a GPU without one, half of its free memory.
        progress: show the one-off tuning's progress bar.
    """
    device = torch.device(device)
    dtype = resolve_dtype(dtype, device)
    if device.type == "cuda":
        budget = max_memory_mb
        if budget is None:
            budget = torch.cuda.mem_get_info(device)[0] / 2**20 / 2
        return Backend("auto", dtype, GPU_TILE, True, budget)
    from binauralgrad.inference.tuning import CPU_DEFAULT, choose

    choice = CPU_DEFAULT if stages is None else \
        choose(stages, dtype, device, num_steps, progress=progress)
    return Backend(choice.backend, dtype, choice.tile, choice.cache, max_memory_mb)


def kernels(name: str, device: torch.device, dtype: torch.dtype):
    """The convolution kernels `name` ("auto", "mkldnn" or "matmul") on `device` in `dtype`."""
    if name not in ("auto", "mkldnn", "matmul"):
        raise ValueError(f"backend must be 'auto', 'mkldnn' or 'matmul', got {name!r}")
    native = device.type == "cpu" and mkldnn_ops_available() and \
        dtype in (torch.float32, torch.bfloat16)
    if name == "mkldnn" and not native:
        raise ValueError(f"the mkldnn backend needs a CPU with oneDNN and float32/bfloat16, "
                         f"got {device} {dtype}")
    if name == "mkldnn" or (name == "auto" and native and mkldnn_works(dtype)):
        return MkldnnConv
    return MatmulConv


def mkldnn_ops_available() -> bool:
    """Whether oneDNN's fused convolution ops (what the CPU fast path uses) are present."""
    return (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise_"))


@functools.cache
def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (AVX512-BF16 or AMX).

    The CPU's flags are not enough: oneDNN may be capped below them (ONEDNN_MAX_CPU_ISA, as when
    an AVX2 machine is emulated), and then bfloat16 runs emulated, a hundred times slower.
    """
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    flags = mkldnn_ops_available() and ((check and check()) or (amx and amx()))
    return bool(flags) and _mkldnn_failure(torch.bfloat16) is None


def resolve_dtype(dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """The compute dtype actually used: half precision on CPU only where it is native."""
    if dtype not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be float32, float64, bfloat16 or float16, got {dtype}")
    if device.type == "cpu" and dtype in (torch.bfloat16, torch.float16):
        if dtype == torch.bfloat16 and cpu_bf16_supported():
            return dtype
        warnings.warn(f"{dtype} is not native on this CPU; computing in float32", stacklevel=3)
        return torch.float32
    return dtype


class MkldnnConv:
    """Convolutions over (B, L, C) rows through oneDNN's channels-last kernels."""

    name = "mkldnn"

    @staticmethod
    def weight(kernel: torch.Tensor) -> torch.Tensor:
        """(N, K, k) -> oneDNN's (N, K, 1, k) channels-last layout."""
        return kernel.unsqueeze(2).contiguous(memory_format=torch.channels_last)

    @staticmethod
    def conv(rows, weight, bias, dilation: int = 1) -> torch.Tensor:
        """rows (B, L, K) -> (B, L - (k - 1) * dilation, N)."""
        out = torch.ops.mkldnn._convolution_pointwise(
            rows.permute(0, 2, 1).unsqueeze(2), weight, bias, [0, 0], [1, 1], [1, dilation], 1,
            "none", [], None)
        return out.squeeze(2).permute(0, 2, 1)

    @staticmethod
    def conv_(out, rows, weight, bias, dilation: int = 1) -> None:
        """out += conv(rows) + bias, in place (oneDNN's sum post-op: no new buffer)."""
        torch.ops.mkldnn._convolution_pointwise_.binary(
            out.permute(0, 2, 1).unsqueeze(2), rows.permute(0, 2, 1).unsqueeze(2), weight, bias,
            [0, 0], [1, 1], [1, dilation], 1, "add", None, None, [], None)

    @classmethod
    def conv_into(cls, out, rows, weight, bias=None) -> None:
        """out = conv(rows) + bias, written into `out`."""
        # From zero and the bias after: oneDNN sums its partial products into `out`, so a start
        # at the bias would round otherwise than the conditioner cache's projection plus bias.
        out.zero_()
        cls.conv_(out, rows, weight, None)
        if bias is not None:
            out.add_(bias)


def mkldnn_works(dtype: torch.dtype) -> bool:
    """Runs oneDNN's private fused ops once on a tiny input against the public convolution.

    They are private (`torch.ops.mkldnn`), so a torch release may change or drop them; then the
    fast path falls back to the public matmul convolutions, with a warning, instead of failing.
    """
    reason = _mkldnn_failure(dtype)
    if reason is not None:
        warnings.warn(f"oneDNN's fused convolutions are unusable here ({reason}); the fast path "
                      "uses the slower matmul convolutions", RuntimeWarning, stacklevel=4)
    return reason is None


def _mkldnn_failure(dtype: torch.dtype) -> str | None:
    """Why oneDNN's fused ops fail on a tiny input in `dtype`, or None where they work."""
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(1, 9, 4, generator=generator).to(dtype)
    kernel = torch.randn(3, 4, 3, generator=generator).to(dtype)
    bias = torch.randn(3, generator=generator).to(dtype)
    expected = F.conv1d(rows.transpose(1, 2).float(), kernel.float(), bias.float(), dilation=2)
    try:
        weight = MkldnnConv.weight(kernel)
        out = MkldnnConv.conv(rows, weight, bias, dilation=2)
        summed = torch.zeros_like(out)
        MkldnnConv.conv_(summed, rows, weight, bias, dilation=2)
    except (RuntimeError, TypeError, AttributeError) as error:
        return f"{type(error).__name__}: {error}"
    tolerance = 1e-4 if dtype == torch.float32 else 5e-2
    if all(torch.allclose(value.float().transpose(1, 2), expected, atol=tolerance, rtol=tolerance)
           for value in (out, summed)):
        return None
    return "they disagree with torch's convolution"


class MatmulConv:
    """The same convolutions as matrix products: any device and dtype.

    Products accumulate in place (`addmm_`, BLAS's beta = 1) one tap at a time, straight from
    strided views of the rows: a stream's short pushes spend as long on temporaries (unfolded
    taps, products, biased copies) as on the arithmetic.
    """

    name = "matmul"

    @staticmethod
    def weight(kernel: torch.Tensor) -> torch.Tensor:
        """(N, K, k) -> (k * K, N), tap-major: tap j's matrix is rows j*K .. (j+1)*K - 1."""
        return kernel.permute(2, 1, 0).reshape(-1, kernel.shape[0]).contiguous()

    @staticmethod
    def conv(rows, weight, bias, dilation: int = 1) -> torch.Tensor:
        """rows (B, L, K) -> (B, L - (k - 1) * dilation, N)."""
        length = rows.shape[1] - (weight.shape[0] // rows.shape[-1] - 1) * dilation
        out = rows.new_empty(rows.shape[0], length, weight.shape[1])
        MatmulConv.conv_into(out, rows, weight, bias, dilation)
        return out

    @staticmethod
    def products(out, rows, weight, dilation: int = 1) -> list[tuple[torch.Tensor, ...]]:
        """`conv_`'s in-place products as (target, rows, weight) views, one per batch item and
        tap, in its order: `target.addmm_(rows, weight)` for each is the convolution."""
        channels, length = rows.shape[-1], out.shape[1]
        return [(out[batch], rows[batch, tap * dilation: tap * dilation + length],
                 weight[tap * channels: (tap + 1) * channels])
                for batch in range(out.shape[0]) for tap in range(weight.shape[0] // channels)]

    @staticmethod
    def conv_(out, rows, weight, bias, dilation: int = 1) -> None:
        """out += conv(rows) + bias, in place."""
        for target, taps, matrix in MatmulConv.products(out, rows, weight, dilation):
            target.addmm_(taps, matrix)
        if bias is not None:
            out.add_(bias)

    @classmethod
    def conv_into(cls, out, rows, weight, bias=None, dilation: int = 1) -> None:
        """out = conv(rows) + bias, written into `out` (the bias inside the first product)."""
        channels, length = rows.shape[-1], out.shape[1]
        for batch in range(out.shape[0]):
            target, first = out[batch], rows[batch, :length]
            if not target.is_contiguous():
                target.copy_(first @ weight[:channels] + (0 if bias is None else bias))
            elif bias is None:
                torch.mm(first, weight[:channels], out=target)
            else:
                torch.addmm(bias, first, weight[:channels], out=target)
        if weight.shape[0] > channels:
            cls.conv_(out, rows[:, dilation:], weight[channels:], None, dilation)
