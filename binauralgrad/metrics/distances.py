"""The benchmark's distances: waveform, STFT amplitude, STFT phase and multi-resolution STFT."""

from __future__ import annotations

import math

import torch

from binauralgrad.metrics.signals import (
    BENCHMARK_FFT,
    BENCHMARK_HOP,
    BENCHMARK_WINDOW,
    as_pair,
    stft,
)

# auraloss' MultiResolutionSTFTLoss() defaults: (FFT size, hop, window length) per resolution.
MRSTFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
_MAGNITUDE_FLOOR = 1e-8  # on the squared magnitude, as in auraloss, so that log() stays finite


def wave_l2(prediction, reference) -> float:
    """Mean squared error of the waveforms (the paper prints it x1000).

    Args:
        prediction, reference: (C, T) or (B, C, T) arrays or tensors of the same shape.

    Returns:
        The mean over batch, channels and samples.
    """
    prediction, reference = as_pair(prediction, reference)
    return float(torch.mean((prediction - reference) ** 2))


def amplitude_l2(prediction, reference) -> float:
    """Mean absolute difference of STFT magnitudes (2048 bins, 1920 Hann window, hop 480).

    Args:
        prediction, reference: (C, T) or (B, C, T) arrays or tensors of the same shape, T > 1024.

    Returns:
        The mean over rows, bins and frames.
    """
    prediction, reference = as_pair(prediction, reference)
    magnitude = stft(prediction, BENCHMARK_FFT, BENCHMARK_HOP, BENCHMARK_WINDOW).abs()
    reference_magnitude = stft(reference, BENCHMARK_FFT, BENCHMARK_HOP, BENCHMARK_WINDOW).abs()
    return float(torch.mean(torch.abs(magnitude - reference_magnitude)))


def phase_distance(
    prediction: torch.Tensor, target: torch.Tensor, *, ignore_below: float
) -> torch.Tensor:
    """The phase loss of Richard et al. (ICLR 2021), used by BinauralGrad's training and benchmark.

    A bin counts when the target's energy |Re| + |Im| and the prediction's both exceed
    `ignore_below` times the target's mean energy; the loss is the mean over those bins of the
    wrapped angle difference pi - ||angle(prediction) - angle(target)| - pi|. Gradients flow to
    both arguments (the training loss differentiates its `target`); the bin selection itself is
    not differentiated.

    Args:
        prediction: (..., T) tensor, T > 1024.
        target: tensor of the same shape.
        ignore_below: the energy threshold, a fraction of the target's mean energy.

    Returns:
        Scalar tensor in [0, pi]; 0 when no bin passes the thresholds.
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target shapes differ: {tuple(prediction.shape)}"
            f" vs {tuple(target.shape)}"
        )
    spectrum = stft(prediction, BENCHMARK_FFT, BENCHMARK_HOP, BENCHMARK_WINDOW)
    target_spectrum = stft(
        target.to(spectrum.real.dtype), BENCHMARK_FFT, BENCHMARK_HOP, BENCHMARK_WINDOW
    )
    with torch.no_grad():
        energy = spectrum.real.abs() + spectrum.imag.abs()
        target_energy = target_spectrum.real.abs() + target_spectrum.imag.abs()
        threshold = ignore_below * target_energy.mean()
        keep = (target_energy > threshold) & (energy > threshold)
    if not bool(keep.any()):
        return (spectrum.real.sum() * 0.0).to(prediction.dtype)
    # Angles only of the kept bins: angle() has an undefined gradient at 0, which these exclude.
    difference = torch.abs(torch.angle(spectrum[keep]) - torch.angle(target_spectrum[keep]))
    return torch.mean(math.pi - torch.abs(difference - math.pi))


def phase_l2(prediction, reference) -> float:
    """The benchmark's phase distance: `phase_distance(prediction, reference, ignore_below=0.2)`.

    Args:
        prediction, reference: (C, T) or (B, C, T) arrays or tensors of the same shape, T > 1024.

    Returns:
        Mean wrapped phase difference in radians over the bins with enough energy.
    """
    prediction, reference = as_pair(prediction, reference)
    return float(phase_distance(prediction, reference, ignore_below=0.2))


def mrstft_loss(prediction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Differentiable multi-resolution STFT loss (spectral convergence + L1 of log magnitudes).

    Equal to auraloss' `MultiResolutionSTFTLoss()(prediction, reference)`: per resolution, the
    spectral convergence ||S_ref - S_pred||_F / ||S_ref||_F over all rows together plus the mean
    |log S_pred - log S_ref|, averaged over the three resolutions.

    Args:
        prediction, reference: (..., T) tensors of the same shape, T > 1024.

    Returns:
        Scalar tensor.
    """
    if prediction.shape != reference.shape:
        raise ValueError(
            f"prediction and reference shapes differ: {tuple(prediction.shape)}"
            f" vs {tuple(reference.shape)}"
        )
    total = prediction.new_zeros(())
    for n_fft, hop, window_length in MRSTFT_RESOLUTIONS:
        magnitude = _clamped_magnitude(stft(prediction, n_fft, hop, window_length))
        reference_magnitude = _clamped_magnitude(stft(reference, n_fft, hop, window_length))
        convergence = torch.linalg.norm(reference_magnitude - magnitude) / torch.linalg.norm(
            reference_magnitude
        )
        log_distance = torch.mean(torch.abs(torch.log(magnitude) - torch.log(reference_magnitude)))
        total = total + convergence + log_distance
    return total / len(MRSTFT_RESOLUTIONS)


def mrstft(prediction, reference) -> float:
    """The benchmark's multi-resolution STFT distance (see `mrstft_loss`).

    Args:
        prediction, reference: (C, T) or (B, C, T) arrays or tensors of the same shape, T > 1024.

    Returns:
        The loss as a float; 0 for identical inputs.
    """
    prediction, reference = as_pair(prediction, reference)
    return float(mrstft_loss(prediction, reference))


def _clamped_magnitude(spectrum: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(spectrum.real**2 + spectrum.imag**2, min=_MAGNITUDE_FLOOR))
