"""Vectorised signal blocks for the simulator: framewise filtering, delay lines, smooth noise."""

from __future__ import annotations

import numpy as np


def frame_filter(signal: np.ndarray, responses: np.ndarray, *, window_length: int) -> np.ndarray:
    """Filters a signal with a different frequency response per frame (weighted overlap-add).

    Frames use a square-root periodic Hann window for analysis and synthesis with a hop of half
    the window, so a flat response of 1 reproduces the signal exactly. Frame k is centred on
    sample k * hop. Responses should be short (smooth in frequency) to keep wrap-around small.

    Args:
        signal: (T,) samples.
        responses: (F, window_length // 2 + 1) real or complex gains, F = ceil(T / hop) + 1.
        window_length: an even frame length in samples.

    Returns:
        (T,) filtered signal, float32.
    """
    hop = window_length // 2
    num_frames = frame_count(len(signal), window_length=window_length)
    if responses.shape != (num_frames, hop + 1):
        raise ValueError(f"responses must be ({num_frames}, {hop + 1}), got {responses.shape}")
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window_length) / window_length))
    padded = np.zeros((num_frames + 1) * hop, dtype=np.float64)
    padded[hop : hop + len(signal)] = signal
    blocks = padded.reshape(num_frames + 1, hop)
    frames = np.concatenate([blocks[:-1], blocks[1:]], axis=1) * window
    filtered = np.fft.irfft(np.fft.rfft(frames, axis=1) * responses, n=window_length, axis=1)
    filtered *= window
    out = np.zeros_like(blocks)
    out[:-1] += filtered[:, :hop]
    out[1:] += filtered[:, hop:]
    return out.reshape(-1)[hop : hop + len(signal)].astype(np.float32)


def varying_fir(signal: np.ndarray, responses: np.ndarray, *, hop: int) -> np.ndarray:
    """Filters a signal with a different impulse response per frame, crossfading between them.

    y = sum_k (x w_k) * h_k, with w_k the triangle that is 1 at frame k's centre (sample
    k * hop + hop // 2) and 0 at its neighbours' (held at the ends): the windows sum to 1, so a
    constant response is an exact convolution, and a changing one moves smoothly with no
    wrap-around (each product is a full linear convolution).

    Args:
        signal: (T,) samples, T <= K * hop.
        responses: (K, L) one impulse response per frame.
        hop: samples per frame (even).

    Returns:
        (T,) float32 filtered signal (the convolution's tail past T is cut).
    """
    frames, taps = responses.shape
    if len(signal) > frames * hop:
        raise ValueError(f"{frames} responses of hop {hop} cover {frames * hop} samples, "
                         f"not {len(signal)}")
    responses = np.concatenate([responses[:1], responses, responses[-1:]])  # held ends
    lead = hop + hop // 2  # segment j then starts at padded sample j * hop
    padded = np.zeros((frames + 3) * hop)
    padded[lead : lead + len(signal)] = signal
    blocks = padded.reshape(frames + 3, hop)
    triangle = 1.0 - np.abs(np.arange(2 * hop) - hop) / hop
    segments = np.concatenate([blocks[:-1], blocks[1:]], axis=1) * triangle
    spans = -(-(2 * hop + taps - 1) // hop)  # hops that one segment's convolution reaches
    size = 1 << int(np.ceil(np.log2(spans * hop)))
    products = np.fft.irfft(np.fft.rfft(segments, n=size) * np.fft.rfft(responses, n=size),
                            n=size)[:, : spans * hop].reshape(frames + 2, spans, hop)
    out = np.zeros((frames + 2 + spans, hop))
    for span in range(spans):
        out[span : span + frames + 2] += products[:, span]
    return out.reshape(-1)[lead : lead + len(signal)].astype(np.float32)


def frame_count(num_samples: int, *, window_length: int) -> int:
    """Number of `frame_filter` frames for a signal of `num_samples`."""
    return -(-num_samples // (window_length // 2)) + 1


def delay_line(
    signal: np.ndarray, delay: np.ndarray, gain: np.ndarray, *, max_delay: float
) -> np.ndarray:
    """y[t] = gain[t] * signal[t - delay[t]], fractional delays by linear interpolation.

    Args:
        signal: (T,) source samples (silence before the first one).
        delay: (T,) delays in samples, 0 <= delay <= max_delay.
        gain: (T,) gains.
        max_delay: a bound on `delay`, for the zero padding.

    Returns:
        (T,) float32 delayed signal.
    """
    pad = int(np.ceil(max_delay)) + 2
    padded = np.concatenate([np.zeros(pad, dtype=np.float32), signal.astype(np.float32)])
    # Split the delay into whole and fractional samples so that float32 keeps full precision
    # however long the signal: t - delay = (t - whole - 1) + (1 - fraction).
    delay = np.asarray(delay, dtype=np.float32)
    whole = np.floor(delay)
    index = np.arange(pad - 1, pad - 1 + len(signal), dtype=np.int64) - whole.astype(np.int64)
    weight = 1.0 - (delay - whole)
    before = padded[index]
    out = before + weight * (padded[index + 1] - before)
    return out * gain.astype(np.float32)


def smooth_noise(
    rng: np.random.Generator, num_points: int, *, cutoff: float, rate: float
) -> np.ndarray:
    """A smooth random signal: white noise through a Gaussian low-pass, unit standard deviation.

    Args:
        rng: the random source.
        num_points: samples to return.
        cutoff: the low-pass width in Hz (the signal wanders on a time scale of ~1 / cutoff).
        rate: sampling rate of the result in Hz.

    Returns:
        (num_points,) float64 array, zero mean and unit standard deviation.
    """
    # Pad so that the FFT's circular wrap does not tie the two ends together.
    length = num_points + int(4 * rate / cutoff)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length, d=1.0 / rate)
    wander = np.fft.irfft(spectrum * np.exp(-((frequencies / cutoff) ** 2)), n=length)[:num_points]
    wander -= wander.mean()
    return wander / max(float(wander.std()), 1e-12)


def ramp_between_hops(values: np.ndarray, num_samples: int, *, hop: int) -> np.ndarray:
    """Linearly interpolates per-frame values (frame k centred on sample k * hop + hop // 2).

    The simulator's control signals (pitch, delay, gain) in float64 numpy: centres on whole
    samples, unlike `dsp.upsample_frames`, whose torch interpolation between (k + 0.5) * hop
    - 0.5 the model's prior and the stream share; the data sets made so far keep their bits.

    Args:
        values: (..., K) per-frame values, K * hop >= num_samples.
        num_samples: T.
        hop: samples per frame.

    Returns:
        (..., T) float64 values, held constant before the first and after the last centre.
    """
    values = np.asarray(values, dtype=np.float64)
    half = hop // 2
    # Between two centres the ramp is the same for every frame: broadcast it, no gathers.
    ramp = np.arange(hop) / hop
    between = values[..., :-1, None] + np.diff(values, axis=-1)[..., None] * ramp
    head = np.repeat(values[..., :1], half, axis=-1)
    tail = np.repeat(
        values[..., -1:], max(0, num_samples - half - (values.shape[-1] - 1) * hop), -1
    )
    joined = np.concatenate([head, between.reshape(*values.shape[:-1], -1), tail], axis=-1)
    return joined[..., :num_samples]
