"""PNG figures of an evaluation: per-sequence metrics, interaural cue tracks, spectrograms."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.evaluation.metrics import METRICS, ild_track, itd_track
from binauralgrad.io.atomic import atomic_write

# Reference in black, systems in distinct colours (matplotlib's tab10, colour-blind friendly-ish).
_REFERENCE_COLOUR = "black"
_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple")
_ILD_BANDS_HZ = (500.0, 2000.0, 8000.0)  # low, mid, high: ILD grows with frequency (head shadow)


def new_figure(width: float, height: float):
    # The object-oriented API with the Agg canvas: no pyplot, so no global backend state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: str | os.PathLike, overwrite: bool) -> Path:
    return atomic_write(path, lambda name: figure.savefig(name, format="png"), overwrite=overwrite)


def plot_metrics(
    systems: Mapping[str, Mapping[str, Mapping[str, float]]],
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> Path:
    """Bar charts of every metric per sequence, one bar per system.

    Args:
        systems: {system label: {sequence name: {metric: value}}}.
        path: the PNG to write (atomically; an existing file only with `overwrite`).

    Returns:
        The path written.
    """
    sequences = list(dict.fromkeys(name for result in systems.values() for name in result))
    names = [n for n in METRICS if any(n in m for r in systems.values() for m in r.values())]
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure = new_figure(3.6 * columns, 0.25 * len(sequences) + 2.6 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    width = 0.8 / len(systems)
    positions = np.arange(len(sequences))
    for axis, name in zip(axes, names, strict=False):
        info = METRICS[name]
        shown = []
        for index, (label, result) in enumerate(systems.items()):
            values = [result.get(s, {}).get(name, np.nan) * info.scale for s in sequences]
            offset = (index - (len(systems) - 1) / 2) * width
            colour = _COLOURS[index % len(_COLOURS)]
            axis.bar(positions + offset, values, width, label=label, color=colour)
            shown.extend(values)
        # Systems can differ by orders of magnitude (an untrained model vs the DSP baseline).
        positive = [value for value in shown if value > 0]
        log_scale = len(positive) > 1 and max(positive) > 100 * min(positive)
        if log_scale:
            axis.set_yscale("log")
        unit = f" [{info.unit}]" if info.unit else ""
        better = "higher" if info.higher_is_better else "lower"
        scale_note = ", log scale" if log_scale else ""
        axis.set_title(f"{info.label}{unit}\n({better} is better{scale_note})", fontsize=10)
        axis.set_xticks(positions, sequences, rotation=45, ha="right", fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    for axis in axes[len(names) :]:
        axis.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper right", fontsize=9)
    figure.suptitle("Metrics per test sequence")
    return save_figure(figure, path, overwrite)


def plot_cues(
    reference: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    title: str = "",
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
) -> Path:
    """ITD and ILD (three octave bands) over time, reference against each prediction.

    Frames where the reference is too quiet for a cue (see `binauralgrad.evaluation.metrics.cues`)
    are left blank, as the cue errors ignore them.

    Args:
        reference: (2, T) ground truth. predictions: {label: (2, T) audio}.
        path: the PNG to write. title: a figure title, e.g. the sequence name.

    Returns:
        The path written.
    """
    bands = cue_bands(sample_rate)
    figure = new_figure(11, 2.2 * (1 + len(bands)))
    axes = figure.subplots(1 + len(bands), 1, sharex=True, squeeze=False)[:, 0]
    draw_cues(axes, reference, predictions, sample_rate=sample_rate)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", fontsize=9, ncol=len(labels))
    figure.suptitle(f"Interaural cues over time{': ' + title if title else ''}")
    return save_figure(figure, path, overwrite)


def cue_bands(sample_rate: int = SAMPLE_RATE) -> list[float]:
    """The ILD bands (Hz) that cue figures show: low, mid and high, those below Nyquist."""
    return [centre for centre in _ILD_BANDS_HZ if centre * 2**0.5 <= sample_rate / 2]


def draw_cues(axes, reference: np.ndarray, predictions: Mapping[str, np.ndarray], *,
              sample_rate: int = SAMPLE_RATE, reference_label: str = "reference") -> None:
    """Draws the ITD track on axes[0] and an ILD band's track on each further axis.

    Frames are blank where the first signal, `reference` (labelled `reference_label`), is quiet.
    """
    signals = {reference_label: reference, **predictions}
    itd = {label: itd_track(audio, sample_rate=sample_rate) for label, audio in signals.items()}
    ild = {label: ild_track(audio, sample_rate=sample_rate) for label, audio in signals.items()}
    centres = ild[reference_label].band_centres_hz.tolist()
    bands = [centres.index(c) for c in _ILD_BANDS_HZ if c in centres][: len(axes) - 1]
    itd_active = itd[reference_label].active[0].numpy()
    ild_active = ild[reference_label].active[0].numpy()
    for index, label in enumerate(signals):
        style = _line_style(index)
        times = itd[label].times_s.numpy()
        axes[0].plot(times, _masked(itd[label].values[0].numpy(), itd_active), label=label, **style)
        for axis, band in zip(axes[1:], bands, strict=False):
            track = _masked(ild[label].values[0, band].numpy(), ild_active[band])
            axis.plot(ild[label].times_s.numpy(), track, label=label, **style)
    axes[0].set_ylabel("ITD [µs]\n(+: right ear later)")
    for axis, band in zip(axes[1:], bands, strict=False):
        axis.set_ylabel(f"ILD [dB], {centres[band] / 1000:g} kHz\n(+: left louder)")
    for axis in axes:
        axis.axhline(0.0, color="grey", linewidth=0.5)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("time [s]")


def _line_style(index: int) -> dict:
    if index == 0:
        return {"color": _REFERENCE_COLOUR, "linewidth": 1.6}
    return {"color": _COLOURS[(index - 1) % len(_COLOURS)], "linewidth": 1.0, "alpha": 0.85}


def _masked(values: np.ndarray, active: np.ndarray) -> np.ndarray:
    return np.where(active, values, np.nan)


def loudest_segment(
    reference: np.ndarray, duration_s: float, sample_rate: int = SAMPLE_RATE
) -> int:
    """The first sample of the `duration_s` window of the reference with the most energy."""
    length = min(int(duration_s * sample_rate), reference.shape[-1])
    energy = np.concatenate([[0.0], np.cumsum(np.square(reference, dtype=np.float64).sum(axis=0))])
    window_energy = energy[length:] - energy[: energy.shape[0] - length]
    return int(np.argmax(window_energy))


def plot_spectrograms(
    reference: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    duration_s: float = 2.0,
    title: str = "",
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
) -> Path:
    """Spectrograms of the loudest `duration_s` segment: one row per signal, left and right ears.

    Args:
        reference: (2, T) ground truth. predictions: {label: (2, T) audio}.
        path: the PNG to write. duration_s: segment length. title: a figure title.

    Returns:
        The path written.
    """
    start = loudest_segment(reference, duration_s, sample_rate)
    stop = start + min(int(duration_s * sample_rate), reference.shape[-1])
    signals = {"reference": reference, **predictions}
    figure = new_figure(11, 2.4 * len(signals) + 0.6)
    axes = figure.subplots(len(signals), 2, sharex=True, sharey=True, squeeze=False)
    spectra = {
        label: _spectrogram_db(audio[:, start:stop], sample_rate)
        for label, audio in signals.items()
    }
    top = float(spectra["reference"][0].max())
    for row, (label, (levels, times, frequencies)) in enumerate(spectra.items()):
        for ear, side in enumerate(("left", "right")):
            # imshow of the regular time-frequency grid: far faster to draw than pcolormesh.
            extent = (
                start / sample_rate + times[0],
                start / sample_rate + times[-1],
                frequencies[0] / 1000,
                frequencies[-1] / 1000,
            )
            image = axes[row, ear].imshow(
                levels[ear],
                origin="lower",
                aspect="auto",
                extent=extent,
                vmin=top - 80,
                vmax=top,
                cmap="magma",
                interpolation="nearest",
            )
            axes[row, ear].set_title(f"{label}, {side} ear", fontsize=10)
        axes[row, 0].set_ylabel("frequency [kHz]")
    for axis in axes[-1]:
        axis.set_xlabel("time [s]")
    figure.colorbar(image, ax=axes, label="level [dB]", shrink=0.8)
    figure.suptitle(f"Spectrograms of the loudest {duration_s:g} s{': ' + title if title else ''}")
    return save_figure(figure, path, overwrite)


def _spectrogram_db(
    audio: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # 20 ms Hann windows, 5 ms hop: fine enough in time to see onsets and in frequency for pitch.
    length, hop = int(0.02 * sample_rate), int(0.005 * sample_rate)
    if audio.shape[-1] < length:
        raise ValueError(f"a segment of {audio.shape[-1]} samples is too short for a spectrogram")
    frames = np.lib.stride_tricks.sliding_window_view(audio, length, axis=-1)[:, ::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(length), axis=-1)) ** 2
    levels = 10 * np.log10(power.transpose(0, 2, 1) + 1e-12)
    times = (np.arange(frames.shape[1]) * hop + length / 2) / sample_rate
    return levels, times, np.fft.rfftfreq(length, 1 / sample_rate)


def plot_files(folder: str | os.PathLike, sequences: list[str]) -> list[Path]:
    """The PNGs of `write_plots`: metrics.png, <sequence>_cues.png, <sequence>_spectrograms.png."""
    folder = Path(folder)
    per_sequence = [
        folder / f"{name}_{kind}.png" for name in sequences for kind in ("cues", "spectrograms")
    ]
    return [folder / "metrics.png", *per_sequence]


def write_plots(
    folder: str | os.PathLike,
    sequences: Mapping[str, Mapping[str, str | os.PathLike]],
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Writes every figure of an evaluation (see `plot_files`).

    Args:
        folder: where the PNGs go (created if needed).
        sequences: {sequence: {"reference": binaural.wav, system label: predicted WAV, ...}}.
        results: {system label: {sequence: {metric: value}}}.
        overwrite: replace existing PNGs. progress: show a progress bar.

    Returns:
        The paths written.
    """
    from tqdm.auto import tqdm

    from binauralgrad.io.audio import read_wav

    written = [plot_metrics(results, Path(folder) / "metrics.png", overwrite=overwrite)]
    for name, files in tqdm(sequences.items(), desc="Plotting", disable=not progress):
        audio = {label: read_wav(path, channels=2) for label, path in files.items()}
        reference = audio.pop("reference")
        path = Path(folder) / f"{name}_cues.png"
        written.append(plot_cues(reference, audio, path, title=name, overwrite=overwrite))
        path = Path(folder) / f"{name}_spectrograms.png"
        written.append(plot_spectrograms(reference, {**audio, **residuals(reference, audio)},
                                         path, title=name, overwrite=overwrite))
    return written


def residuals(reference: np.ndarray, audio: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the reference and each other system add over a prior-alone system, if there is one.

    Beside the reference's own residual, a model's residual that has learnt something shows
    the same structure (formants, onsets, the head's notches), not a noise floor.
    """
    prior = next((label for label in audio if label.startswith("Prior alone")), None)
    if prior is None:
        return {}
    others = {"reference": reference, **{k: v for k, v in audio.items() if k != prior}}
    return {f"{label} - prior": signal - audio[prior] for label, signal in others.items()
            if not label.startswith("DSP")}
