"""Reading and writing audio files, validated; recordings brought to 48 kHz."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import soundfile

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.io.atomic import atomic_write

PEAK_CEILING = 0.99  # -0.09 dBFS: the peak an output beyond full scale is scaled to
# Output formats by suffix: float WAV keeps the model's values exactly; FLAC and OGG are integer or
# lossy, and clip anything beyond full scale.
OUTPUT_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24"), ".ogg": ("OGG", "VORBIS")}


def read_wav(
    path: str | os.PathLike,
    *,
    channels: int | None = None,
    sample_rate: int = SAMPLE_RATE,
    start: int = 0,
    frames: int = -1,
) -> np.ndarray:
    """Reads a WAV (or a range of it) as float32, channels first.

    Args:
        path: the file.
        channels: the channel count the file must have, or None for any.
        sample_rate: the rate the file must have.
        start, frames: the range to read, in samples (frames=-1 reads to the end).

    Returns:
        (C, T) float32 array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    try:
        with soundfile.SoundFile(str(path)) as file:
            if file.samplerate != sample_rate:
                raise ValueError(f"{path}: sample rate {file.samplerate} Hz, "
                                 f"expected {sample_rate} Hz")
            if channels is not None and file.channels != channels:
                raise ValueError(f"{path}: {file.channels} channel(s), expected {channels}")
            file.seek(start)
            audio = file.read(frames, dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from error
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: audio contains NaN or inf")
    return np.ascontiguousarray(audio.T)


def audio_info(path: str | os.PathLike) -> soundfile._SoundFileInfo:
    """Sample rate, channels and length of an audio file, without reading its samples."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    try:
        return soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from error


def read_mono(path: str | os.PathLike, *, channel: int | None = None, downmix: bool = False,
              sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Reads a recording in any format soundfile reads (WAV, FLAC, OGG, ...) as mono at 48 kHz.

    Args:
        path: the file, at any sample rate.
        channel: which channel of a multichannel file to take, counting from 1.
        downmix: average all channels instead.
        sample_rate: the rate to bring the audio to (see `resample`).

    Returns:
        (T,) float32 audio at `sample_rate`, and the file's own sample rate.
    """
    info = audio_info(path)
    if channel is not None and downmix:
        raise ValueError("give a channel (--channel N) or downmix (--downmix), not both")
    if channel is not None and not 1 <= channel <= info.channels:
        raise ValueError(f"{path}: no channel {channel}; it has {info.channels} "
                         f"(channels count from 1)")
    if info.channels > 1 and channel is None and not downmix:
        raise ValueError(
            f"{path} has {info.channels} channels, but the model takes one voice: pick one with "
            f"--channel N (N = 1 .. {info.channels}; channel=N in Python), or average them with "
            f"--downmix (downmix=True)")
    audio = read_wav(path, sample_rate=info.samplerate)
    if audio.shape[1] == 0:
        raise ValueError(f"{path}: no audio samples")
    mono = audio.mean(axis=0) if downmix else audio[0 if channel is None else channel - 1]
    return resample(mono, info.samplerate, sample_rate), info.samplerate


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resamples along the last axis by the exact ratio to_rate / from_rate.

    scipy.signal.resample_poly: a polyphase Kaiser-windowed FIR at the exact rational ratio
    (44.1 -> 48 kHz is 160 / 147), zero-phase (its delay is compensated, so the audio stays
    aligned with the 120 Hz position rows), part of a well-kept library, and about 0.05 s per
    minute of audio. soxr would be faster still but adds a compiled dependency for no audible gain
    on speech.

    Args:
        audio: (..., T) samples at from_rate.
        from_rate, to_rate: sample rates in Hz.

    Returns:
        (..., ceil(T * to_rate / from_rate)) float32 samples at to_rate.
    """
    from scipy.signal import resample_poly

    for name, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ValueError(f"{name} must be a positive whole number of Hz, got {rate!r}")
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    divisor = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(audio, to_rate // divisor, from_rate // divisor, axis=-1).astype(
        np.float32)


def write_wav(
    path: str | os.PathLike,
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
    subtype: str = "FLOAT",
) -> Path:
    """Writes (C, T) audio as a WAV file atomically (see `atomic_write`)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {audio.shape}")
    return atomic_write(
        path,
        lambda name: soundfile.write(name, audio.T, sample_rate, subtype=subtype, format="WAV"),
        overwrite=overwrite,
    )


def limit_peak(audio: np.ndarray, *, ceiling: float = PEAK_CEILING) -> tuple[np.ndarray, float]:
    """Scales audio that goes beyond full scale (1.0) down, as a whole, to a peak of `ceiling`.

    One gain for the whole signal: no clipping and no distortion, only a quieter file.

    Returns:
        the audio (the same array when it fits) and the gain applied (1.0 when it fits).
    """
    peak = float(np.max(np.abs(audio))) if np.size(audio) else 0.0
    if peak <= 1.0:
        return audio, 1.0
    return (audio * (ceiling / peak)).astype(np.float32), ceiling / peak


def write_audio(path: str | os.PathLike, audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE,
                overwrite: bool = False) -> Path:
    """Writes (C, T) audio atomically, in the format the suffix names (see OUTPUT_FORMATS)."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ValueError(f"{path}: cannot tell the format from {path.suffix!r}; use one of "
                         f"{', '.join(OUTPUT_FORMATS)}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {audio.shape}")
    file_format, subtype = OUTPUT_FORMATS[path.suffix.lower()]
    return atomic_write(
        path,
        lambda name: soundfile.write(name, audio.T, sample_rate, subtype=subtype,
                                     format=file_format),
        overwrite=overwrite,
    )
