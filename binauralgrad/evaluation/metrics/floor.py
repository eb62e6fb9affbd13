"""The noise floor: how loud a prediction is where the reference is silent (speech pauses)."""

from __future__ import annotations

import torch

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.metrics.signals import as_pair

FRAME_S = 0.02
QUIET_FRACTION = 0.1  # the reference's quietest tenth of frames: its pauses and decays
_TINY = 1e-20


def noise_floor_db(prediction, reference, *, sample_rate: int = SAMPLE_RATE,
                   quiet_fraction: float = QUIET_FRACTION) -> float:
    """Level of the prediction over the level of the reference in the reference's quiet frames.

    A generator that leaves noise in the pauses scores well above 0 dB; one that gates or
    over-smooths them scores below. The frames are the `quiet_fraction` of 20 ms frames (both
    channels pooled) where the reference has the least energy.

    Args:
        prediction, reference: (C, T) or (B, C, T) arrays or tensors of the same shape.
        sample_rate: Hz. quiet_fraction: in (0, 1].

    Returns:
        The difference in dB (0: the same floor).
    """
    if not 0 < quiet_fraction <= 1:
        raise ValueError(f"quiet_fraction must lie in (0, 1], got {quiet_fraction!r}")
    prediction, reference = as_pair(prediction, reference)
    length = int(FRAME_S * sample_rate)
    if reference.shape[-1] < length:
        raise ValueError(f"{reference.shape[-1]} samples are shorter than one {FRAME_S} s frame")

    def frame_power(audio: torch.Tensor) -> torch.Tensor:
        frames = audio.double().unfold(-1, length, length)  # (B, C, F, L)
        return frames.pow(2).mean(dim=(1, 3)).reshape(-1)  # channels pooled, (B * F,)

    reference_power, prediction_power = frame_power(reference), frame_power(prediction)
    count = max(1, int(round(quiet_fraction * reference_power.numel())))
    quiet = torch.argsort(reference_power)[:count]
    ratio = (prediction_power[quiet].mean() + _TINY) / (reference_power[quiet].mean() + _TINY)
    return float(10 * torch.log10(ratio))
