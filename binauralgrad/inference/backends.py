"""Convolutions over time-major rows: oneDNN's fused kernels on CPU, matrix products anywhere."""

from __future__ import annotations

import warnings

import torch
from torch.nn import functional as F


def mkldnn_ops_available() -> bool:
    """Whether oneDNN's fused convolution ops (what the CPU fast path uses) are present."""
    return (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise_"))


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (AVX512-BF16 or AMX)."""
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(mkldnn_ops_available() and ((check and check()) or (amx and amx())))


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
    def conv_into(cls, out, rows, weight) -> None:
        """out = conv(rows) without bias, written into `out`."""
        out.zero_()
        cls.conv_(out, rows, weight, None)


def mkldnn_works(dtype: torch.dtype) -> bool:
    """Runs oneDNN's private fused ops once on a tiny input against the public convolution.

    They are private (`torch.ops.mkldnn`), so a torch release may change or drop them; then the
    fast path falls back to the public matmul convolutions, with a warning, instead of failing.
    """
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
        tolerance = 1e-4 if dtype == torch.float32 else 5e-2
        works = all(torch.allclose(value.float().transpose(1, 2), expected, atol=tolerance,
                                   rtol=tolerance) for value in (out, summed))
        reason = "they disagree with torch's convolution"
    except (RuntimeError, TypeError, AttributeError) as error:
        works, reason = False, f"{type(error).__name__}: {error}"
    if not works:
        warnings.warn(f"oneDNN's fused convolutions are unusable here ({reason}); the fast path "
                      "uses the slower matmul convolutions", RuntimeWarning, stacklevel=4)
    return works


class MatmulConv:
    """The same convolutions as (unfolded) matrix products: any device and dtype."""

    name = "matmul"

    @staticmethod
    def weight(kernel: torch.Tensor) -> torch.Tensor:
        """(N, K, k) -> (k * K, N), tap-major, for `unfold(rows) @ weight`."""
        return kernel.permute(2, 1, 0).reshape(-1, kernel.shape[0]).contiguous()

    @staticmethod
    def conv(rows, weight, bias, dilation: int = 1) -> torch.Tensor:
        taps = weight.shape[0] // rows.shape[-1]
        length = rows.shape[1] - (taps - 1) * dilation
        if taps > 1:
            rows = torch.cat([rows[:, k * dilation: k * dilation + length]
                              for k in range(taps)], -1)
        out = torch.matmul(rows, weight)
        return out if bias is None else out + bias

    @classmethod
    def conv_(cls, out, rows, weight, bias, dilation: int = 1) -> None:
        out.add_(cls.conv(rows, weight, bias, dilation))

    @classmethod
    def conv_into(cls, out, rows, weight) -> None:
        """out = conv(rows) without bias (a 1 x 1 kernel), written into `out`."""
        if out.shape[0] == 1 and out.is_contiguous() and rows.shape[0] == 1:
            torch.matmul(rows[0], weight, out=out[0])
        else:
            out.copy_(cls.conv(rows, weight, None))
