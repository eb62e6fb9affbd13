"""Input checks and the short-time Fourier transform shared by the metrics."""

from __future__ import annotations

import numpy as np
import torch

# The benchmark's STFT (amplitude and phase distances): 40 ms Hann window, 10 ms hop at 48 kHz.
BENCHMARK_FFT = 2048
BENCHMARK_WINDOW = 1920
BENCHMARK_HOP = 480


def as_signal(audio, name: str) -> torch.Tensor:
    """Turns a numpy array or tensor of audio into a floating tensor, checking it is finite.

    Args:
        audio: (C, T) or (B, C, T) array or tensor.
        name: what to call it in errors ("prediction", "reference").

    Returns:
        The audio as a float32 tensor (float64 stays float64), on its device.
    """
    tensor = torch.from_numpy(np.asarray(audio)) if not isinstance(audio, torch.Tensor) else audio
    if tensor.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be (channels, samples) or (batch, channels, samples),"
            f" got shape {tuple(tensor.shape)}"
        )
    if tensor.dtype != torch.float64:
        tensor = tensor.float()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or inf")
    return tensor


def as_pair(prediction, reference, *, min_samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks a prediction against its reference; returns both as (B, C, T) tensors of one dtype."""
    prediction = as_signal(prediction, "prediction")
    reference = as_signal(reference, "reference")
    if prediction.shape != reference.shape:
        raise ValueError(
            f"prediction and reference shapes differ: {tuple(prediction.shape)}"
            f" vs {tuple(reference.shape)}"
        )
    if prediction.shape[-1] < min_samples:
        raise ValueError(
            f"signals of {prediction.shape[-1]} samples are too short; need at least {min_samples}"
        )
    dtype = torch.promote_types(prediction.dtype, reference.dtype)
    prediction = prediction.to(dtype)
    reference = reference.to(device=prediction.device, dtype=dtype)
    if prediction.ndim == 2:
        return prediction.unsqueeze(0), reference.unsqueeze(0)
    return prediction, reference


def stft(audio: torch.Tensor, n_fft: int, hop: int, window_length: int) -> torch.Tensor:
    """Centred, unnormalised STFT with a periodic Hann window over every row of `audio`.

    Args:
        audio: (..., T) signals; T must exceed n_fft // 2 (reflection padding).

    Returns:
        (rows, n_fft // 2 + 1, frames) complex tensor, rows = the product of the leading dims.
    """
    if audio.shape[-1] <= n_fft // 2:
        raise ValueError(
            f"signals of {audio.shape[-1]} samples are too short for an STFT of {n_fft} bins"
        )
    if audio.dtype in (torch.float16, torch.bfloat16):
        audio = audio.float()  # torch.stft has no half-precision CPU kernel
    window = torch.hann_window(window_length, dtype=audio.dtype, device=audio.device)
    rows = audio.reshape(-1, audio.shape[-1])
    return torch.stft(rows, n_fft, hop, window_length, window, center=True, return_complex=True)
