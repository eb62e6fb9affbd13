"""Convolutions over time-major rows: oneDNN's fused kernels on CPU, matrix products anywhere."""

from __future__ import annotations

import functools
import warnings

import torch
from torch.nn import functional as F


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
    def conv_(out, rows, weight, bias, dilation: int = 1) -> None:
        """out += conv(rows) + bias, in place."""
        channels, length = rows.shape[-1], out.shape[1]
        for batch in range(out.shape[0]):
            target = out[batch]
            for tap in range(weight.shape[0] // channels):
                target.addmm_(rows[batch, tap * dilation: tap * dilation + length],
                              weight[tap * channels: (tap + 1) * channels])
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
