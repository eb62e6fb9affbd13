"""Source signals for the simulator: a source-filter speech model, or the user's WAV files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.data.blocks import frame_count, frame_filter, ramp_between_hops, smooth_noise
from binauralgrad.io.audio import resample

WINDOW = 960  # 20 ms frames, hop 10 ms: the rate at which the vocal tract changes
HOP = WINDOW // 2
SPEECH_PEAK = 0.3  # close-talk speech in the real dataset peaks around here
# F1, F2, F3 (Hz) of a few vowels (adult male averages); F4, F5 are fixed.
VOWELS = np.array(
    [[270, 2290, 3010], [530, 1840, 2480], [730, 1090, 2440], [570, 840, 2410], [300, 870, 2240],
     [500, 1500, 2500]]
)  # fmt: skip
BANDWIDTHS = np.array([60.0, 90.0, 120.0, 180.0, 250.0])


def _syllable_plan(rng: np.random.Generator, num_frames: int) -> dict[str, np.ndarray]:
    """Per-frame voicing, frication, formants and phrase progress (a Python loop per syllable)."""
    room = num_frames + 12 * 30  # the last phrase may run past the end; cut below
    plan = {
        "voiced": np.zeros(room),
        "fricative": np.zeros(room),
        "formants": np.tile(VOWELS[-1].astype(float), (room, 1)),
        "progress": np.zeros(room),
    }
    frame = int(rng.integers(0, 30))
    while frame < num_frames:
        phrase_start, syllables = frame, int(rng.integers(3, 12))
        for _ in range(syllables):
            onset, nucleus = int(rng.integers(2, 8)), int(rng.integers(8, 22))
            if rng.random() < 0.4:  # a fricative consonant before the vowel
                plan["fricative"][frame : frame + onset] = rng.uniform(0.3, 1.0)
            else:  # a voiced onset, quieter than the vowel
                plan["voiced"][frame : frame + onset] = 0.4
            vowel = VOWELS[rng.integers(len(VOWELS))] * rng.uniform(0.92, 1.08, 3)
            plan["formants"][frame + onset : frame + onset + nucleus] = vowel
            plan["voiced"][frame + onset : frame + onset + nucleus] = rng.uniform(0.6, 1.0)
            frame += onset + nucleus
            if rng.random() < 0.35:  # a stop consonant's closure: a short silence
                frame += int(rng.integers(2, 6))
        plan["progress"][phrase_start:frame] = np.linspace(0, 1, frame - phrase_start)
        frame += int(rng.integers(15, 60))  # a pause between phrases
    return {key: value[:num_frames] for key, value in plan.items()}


def _smooth(values: np.ndarray, width: int = 5) -> np.ndarray:
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(values, [(width, width)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    smoothed = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 0, padded)
    return smoothed[width:-width]


def _glottal_pulses(f0: np.ndarray) -> np.ndarray:
    """Derivative of a glottal flow pulse (slow opening, quick closing), one per period."""
    phase = np.cumsum(f0 / SAMPLE_RATE) % 1.0
    opening = 0.5 - 0.5 * np.cos(np.pi * np.minimum(phase, 0.45) / 0.45)
    closing = np.cos(0.5 * np.pi * np.clip((phase - 0.45) / 0.2, 0.0, 1.0))
    flow = np.where(phase < 0.45, opening, closing)
    pulses = np.diff(flow, prepend=flow[0])
    return pulses / max(float(np.sqrt(np.mean(pulses**2))), 1e-12)


def _formant_envelopes(formants: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """(F, N) magnitude of a cascade of resonances at each frame's formants."""
    centres = np.concatenate([formants, np.tile([3500.0, 4500.0], (len(formants), 1))], axis=1)
    f = frequencies[None, None, :]
    c = centres[:, :, None]
    resonance = c**2 / np.sqrt((c**2 - f**2) ** 2 + (BANDWIDTHS[None, :, None] * f) ** 2)
    return np.prod(resonance, axis=1)


def speech_like_signal(rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """Speech-like audio from a source-filter model, peaking at 0.3.

    Phrases of syllables with pauses between; each syllable an optional fricative (shaped
    noise) or voiced onset and a vowel (glottal pulses through five formant resonances); pitch
    follows a per-speaker base with declination over each phrase and slow wander.

    Args:
        rng: the random source.
        num_samples: T at 48 kHz.

    Returns:
        (T,) float32.
    """
    num_frames = frame_count(num_samples, window_length=WINDOW)
    plan = _syllable_plan(rng, num_frames)
    frequencies = np.fft.rfftfreq(WINDOW, d=1.0 / SAMPLE_RATE)
    speaker = rng.uniform(1.0, 1.2)  # shorter vocal tracts raise every formant
    pitch = rng.uniform(90, 210) * (1.15 - 0.3 * plan["progress"])
    pitch *= np.exp(0.08 * smooth_noise(rng, num_frames, cutoff=2.0, rate=SAMPLE_RATE / HOP))
    f0 = ramp_between_hops(pitch, num_samples, hop=HOP)
    voiced_gain = _smooth(plan["voiced"])[:, None] * _formant_envelopes(
        _smooth(plan["formants"]) * speaker, frequencies
    )
    fricative_centre = rng.uniform(2500, 7000)
    fricative_shape = np.exp(-(((frequencies - fricative_centre) / 2500.0) ** 2))
    noise_gain = _smooth(plan["fricative"])[:, None] * fricative_shape[None, :] * 0.5
    noise = rng.standard_normal(num_samples)
    speech = frame_filter(_glottal_pulses(f0), voiced_gain, window_length=WINDOW)
    speech += frame_filter(noise, noise_gain + 0.01 * voiced_gain, window_length=WINDOW)
    return normalize_peak(speech)


def normalize_peak(signal: np.ndarray, peak: float = SPEECH_PEAK) -> np.ndarray:
    """Scales a signal so that its largest magnitude is `peak` (silence stays silent)."""
    largest = float(np.max(np.abs(signal))) if len(signal) else 0.0
    return (signal * (peak / largest if largest > 0 else 0.0)).astype(np.float32)


def speech_files(speech_dir: str | os.PathLike) -> list[Path]:
    """The audio files (wav, flac, ogg) under a folder, sorted; FileNotFoundError if none."""
    root = Path(speech_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such speech folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".wav", ".flac", ".ogg"})
    if not files:
        raise FileNotFoundError(f"{root}: no .wav, .flac or .ogg files")
    return files


def speech_from_files(rng: np.random.Generator, files: list[Path], num_samples: int) -> np.ndarray:
    """T samples of the given recordings, in random order (looping), mixed to mono, peak 0.3."""
    pieces, total = [], 0
    order = rng.permutation(len(files))
    while total < num_samples:
        for index in order:
            try:
                audio, rate = soundfile.read(str(files[index]), dtype="float32", always_2d=True)
            except soundfile.LibsndfileError as error:
                raise ValueError(f"{files[index]}: not a readable audio file ({error})") from error
            audio = resample(audio.mean(axis=1), rate, SAMPLE_RATE)
            pieces.append(audio)
            total += len(audio)
            if total >= num_samples:
                break
        if total == 0:
            raise ValueError(f"{files[0].parent}: the speech files hold no samples")
    return normalize_peak(np.concatenate(pieces)[:num_samples])
