"""Fitting targets whose interaural level differences are those a room leaves, not the head's.

In a room the far ear gets the reverberation's energy as well as the shadowed direct sound, so
the level difference between the ears, band by band, is smaller than the head's own. A model
whose output is deterministic cannot add that reverberation (in any one room it is noise to a
model that does not know the room), and its least-squares head reproduces the direct sound's
full level difference: measured per octave band and 40 ms frame, that is further from the
reverberant reference's than the DSP prior's almost level-free ears are.

`compress_interaural_levels` moves each frame's and band's level difference towards zero by a
factor (its `alpha` power on the energy ratio) while keeping the band's energy summed over both
ears and every bin's phase: the interaural time cues and the waveform's fine structure stay, only
the share of a band's energy between the ears changes. Fitting the learned head to such targets
(`binauralgrad fit-head --level-compression ALPHA`) gives the linear filter closest to them.
"""

from __future__ import annotations

import torch

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.metrics.cues import OCTAVE_CENTRES_HZ  # the ILD metric's bands

FRAME = 2048  # 43 ms at 48 kHz, about the cue metric's 40 ms frames
HOP = FRAME // 4
_TINY = 1e-12


def band_factors(alpha) -> tuple[float, ...]:
    """One factor per octave band (`OCTAVE_CENTRES_HZ`) from a number or a sequence of eight."""
    factors = (float(alpha),) * len(OCTAVE_CENTRES_HZ) if isinstance(alpha, (int, float)) \
        else tuple(float(value) for value in alpha)
    if len(factors) != len(OCTAVE_CENTRES_HZ):
        raise ValueError(f"give one level compression or {len(OCTAVE_CENTRES_HZ)}, one per "
                         f"octave band from 125 Hz to 16 kHz; got {len(factors)}")
    if not all(0.0 <= value <= 1.0 for value in factors):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return factors


def compress_interaural_levels(binaural, alpha, *,
                               sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Scales each frame's and octave band's level difference (in dB) by `alpha`.

    Args:
        binaural: (2, T) left and right ear, array or tensor.
        alpha: the factor on the level difference in dB, in [0, 1], or one per octave band
            (125 Hz .. 16 kHz): 1 leaves a band as it is, 0 leaves both ears of it equally loud.

    Returns:
        (2, T) float32. Per frame and band, the ears' summed energy and each bin's phase are the
        input's; below 125 / sqrt(2) Hz and above the last band's top nothing changes.
    """
    audio = torch.as_tensor(binaural, dtype=torch.float32)
    if audio.dim() != 2 or audio.shape[0] != 2:
        raise ValueError(f"binaural must be (2, T), got {tuple(audio.shape)}")
    factors = band_factors(alpha)
    if all(value == 1.0 for value in factors) or audio.shape[-1] == 0:
        return audio.clone()
    window = torch.hann_window(FRAME, dtype=torch.float32)
    spectra = torch.stft(audio, FRAME, HOP, window=window, return_complex=True)  # (2, F, K)
    frequencies = torch.fft.rfftfreq(FRAME, 1 / sample_rate)
    gains = torch.ones(spectra.shape, dtype=torch.float32)
    for centre, factor in zip(OCTAVE_CENTRES_HZ, factors, strict=True):
        band = (frequencies >= centre / 2**0.5) & (frequencies < centre * 2**0.5)
        if not bool(band.any()) or factor == 1.0:
            continue
        energy = spectra[:, band].abs().square().sum(1) + _TINY  # (2, K)
        ratio = (energy[0] / energy[1]) ** factor
        total = energy[0] + energy[1]
        gains[0, band] = torch.sqrt(total * ratio / (1 + ratio) / energy[0])[None]
        gains[1, band] = torch.sqrt(total / (1 + ratio) / energy[1])[None]
    return torch.istft(spectra * gains, FRAME, HOP, window=window, length=audio.shape[-1])
