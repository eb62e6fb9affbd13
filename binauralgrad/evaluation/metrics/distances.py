"""The benchmark's distances: waveform, STFT amplitude, STFT phase and multi-resolution STFT."""

from __future__ import annotations

import math

import torch

from binauralgrad.evaluation.metrics.signals import (
    BENCHMARK_FFT,
    BENCHMARK_HOP,
    BENCHMARK_WINDOW,
    as_pair,
    stft,
)

# auraloss' MultiResolutionSTFTLoss() defaults: (FFT size, hop, window length) per resolution.
MRSTFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
_MAGNITUDE_FLOOR = 1e-8  # on the squared magnitude, as in auraloss, so that log() stays finite
# Rows (channels) are transformed in groups of at most this many samples: a training batch is one
# group, while minutes of binaural audio would need gigabytes of spectra in one piece.
_GROUP_SAMPLES = 1 << 23
_SUM = torch.float64  # for sums over millions of bins


def _row_groups(*signals: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """Splits (..., T) signals into aligned groups of (rows, T) rows."""
    length = signals[0].shape[-1]
    rows = max(1, _GROUP_SAMPLES // max(length, 1))
    flat = [signal.reshape(-1, length) for signal in signals]
    return list(zip(*(signal.split(rows) for signal in flat), strict=True))


def _check_shapes(prediction: torch.Tensor, other: torch.Tensor, name: str) -> None:
    if prediction.shape != other.shape:
        raise ValueError(
            f"prediction and {name} shapes differ: {tuple(prediction.shape)}"
            f" vs {tuple(other.shape)}"
        )


def _benchmark_stft(audio: torch.Tensor) -> torch.Tensor:
    return stft(audio, BENCHMARK_FFT, BENCHMARK_HOP, BENCHMARK_WINDOW)


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
    total, count = 0.0, 0
    for predicted, expected in _row_groups(prediction, reference):
        difference = _benchmark_stft(predicted).abs() - _benchmark_stft(expected).abs()
        total += float(difference.abs().sum(dtype=torch.float64))
        count += difference.numel()
    return total / count


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
    _check_shapes(prediction, target, "target")
    groups = _row_groups(prediction, target)
    # One group (any training batch) keeps its spectra for both passes; more are recomputed.
    cache = list(_spectrum_pairs(groups)) if len(groups) == 1 else None

    def spectrum_pairs():
        return iter(cache) if cache is not None else _spectrum_pairs(groups)

    with torch.no_grad():  # the threshold needs the mean over every row first
        sums = [(_energy(t).sum(dtype=torch.float64), t.numel()) for _, t in spectrum_pairs()]
        threshold = ignore_below * float(sum(s for s, _ in sums)) / sum(n for _, n in sums)
    total, kept = 0.0, 0
    for spectrum, target_spectrum in spectrum_pairs():
        with torch.no_grad():
            keep = (_energy(target_spectrum) > threshold) & (_energy(spectrum) > threshold)
        # Angles only of the kept bins: angle() has an undefined gradient at 0, which these exclude.
        difference = torch.abs(torch.angle(spectrum[keep]) - torch.angle(target_spectrum[keep]))
        total = total + torch.sum(math.pi - torch.abs(difference - math.pi))
        kept += int(keep.sum())
    return total / max(kept, 1)


def _spectrum_pairs(groups):
    for predicted, expected in groups:
        spectrum = _benchmark_stft(predicted)
        yield spectrum, _benchmark_stft(expected.to(spectrum.real.dtype))


def _energy(spectrum: torch.Tensor) -> torch.Tensor:
    return spectrum.real.abs() + spectrum.imag.abs()


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
    _check_shapes(prediction, reference, "reference")
    groups = _row_groups(prediction, reference)
    total = 0.0
    for n_fft, hop, window_length in MRSTFT_RESOLUTIONS:
        error_norms, reference_norms, log_error, count = [], [], 0.0, 0
        for predicted, expected in groups:
            magnitude = _clamped_magnitude(stft(predicted, n_fft, hop, window_length))
            reference_magnitude = _clamped_magnitude(stft(expected, n_fft, hop, window_length))
            # Norms per group, joined as the norm of the norms: with one group (the usual case)
            # this is auraloss' own float32 linalg.norm, which the benchmark's numbers used, and
            # its gradient stays finite at a zero error.
            error_norms.append(torch.linalg.norm(reference_magnitude - magnitude))
            reference_norms.append(torch.linalg.norm(reference_magnitude))
            log_error = log_error + torch.sum(
                torch.abs(torch.log(magnitude) - torch.log(reference_magnitude)), dtype=_SUM
            )
            count += magnitude.numel()
        convergence = torch.linalg.norm(torch.stack(error_norms)) / torch.linalg.norm(
            torch.stack(reference_norms)
        )
        total = total + convergence + log_error / count
    return (total / len(MRSTFT_RESOLUTIONS)).to(magnitude.dtype)


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
