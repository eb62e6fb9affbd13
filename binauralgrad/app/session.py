"""The app's work in plain functions, shared with `binauralgrad synthesize`: recording, pipeline,
the three signals to compare, and the files and figures a page shows."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binauralgrad.constants import APP_MAX_SECONDS, DEFAULT_MODEL_DIR, LIVE_MODEL_DIR, SAMPLE_RATE

MAX_SECONDS = APP_MAX_SECONDS  # the page's limit on a CPU (`binauralgrad app --max-seconds`)
SILENCE_DBFS = -80.0  # a recording whose peak stays below this has no voice to place
MODELS = {"default": DEFAULT_MODEL_DIR, "live": LIVE_MODEL_DIR}  # the embedded pipelines
DOWNMIX = "downmix"  # the page's choice beside the channel numbers of a multichannel file


def channel_choices(path: str | os.PathLike) -> list[str]:
    """The page's choices for a recording: [] for mono, else "1" .. "N" and "downmix"."""
    from binauralgrad.io.audio import audio_info

    channels = audio_info(path).channels
    return [] if channels == 1 else [*map(str, range(1, channels + 1)), DOWNMIX]


def parse_channel(choice: str | None) -> tuple[int | None, bool]:
    """(channel, downmix) as `read_mono` takes them, from one of `channel_choices` or None."""
    if choice in (None, ""):
        return None, False
    if choice == DOWNMIX:
        return None, True
    return int(choice), False


def load_recording(path: str | os.PathLike, *, channel: int | None = None,
                   downmix: bool = False, max_seconds: float | None = None,
                   command: str = "") -> tuple[np.ndarray, int]:
    """Reads a recording as the command line does (see `io.read_mono`), and refuses silence.

    Args:
        path: any file soundfile reads, at any sample rate.
        channel, downmix: the channel (from 1) or the average of a multichannel file.
        max_seconds: the longest recording taken (None: any), checked before reading.
        command: the command line that renders it anyway, named when it is too long.

    Returns:
        (T,) float32 audio at 48 kHz, and the file's own sample rate.

    Raises:
        ValueError: too long, unreadable, multichannel without a choice, NaN/inf or silent.
        FileNotFoundError: no such file.
    """
    from binauralgrad.io.audio import audio_info, read_mono

    info = audio_info(path)
    if max_seconds is not None and info.frames > max_seconds * info.samplerate:
        instead = f"; the command line takes any length:\n{command}" if command else ""
        raise ValueError(f"{Path(path).name} lasts {info.frames / info.samplerate:.1f} s, longer "
                         f"than the {max_seconds:g} s this page synthesises{instead}")
    mono, file_rate = read_mono(path, channel=channel, downmix=downmix)
    check_not_silent(mono, path)
    return mono, file_rate


def check_not_silent(mono: np.ndarray, path: str | os.PathLike) -> None:
    """Raises ValueError when the (T,) recording's peak stays below SILENCE_DBFS."""
    peak = float(np.max(np.abs(mono)))
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = "all zeros" if peak == 0 else f"its peak is {20 * np.log10(peak):.0f} dBFS"
        raise ValueError(f"{path}: the recording is silent ({level}, below {SILENCE_DBFS:g} "
                         f"dBFS): there is no voice to place")


def load_pipeline(model: str | os.PathLike, *, device: str = "cpu", dtype: str = "float32"):
    """A BinauralGradPipeline from a folder or Hub repo id, on `device` in `dtype` (a name)."""
    import torch

    from binauralgrad.pipeline import BinauralGradPipeline

    return BinauralGradPipeline.from_pretrained(model, device=device,
                                                dtype=getattr(torch, dtype))


def model_label(model: str | os.PathLike) -> str:
    """How a model is named to a person: the embedded ones by name, others by path or id."""
    for name, folder in MODELS.items():
        if Path(model).resolve() == folder:
            return f"the embedded {name} model ({folder})"
    return str(model)


@dataclass
class Rendering:
    """One synthesis and what it is compared with, all at 48 kHz.

    Attributes:
        mono: (T,) the recording. rows: (ceil(T / 400), 7) the positions used.
        binaural: (2, T) the model's ears. warped: (2, T) the DSP baseline (geometric warp).
    """

    mono: np.ndarray
    rows: np.ndarray
    binaural: np.ndarray
    warped: np.ndarray


def render(pipeline, mono: np.ndarray, rows: np.ndarray, *, seed: int = 0,
           progress: bool = True, **options) -> Rendering:
    """Runs both stages on (T,) mono and (K, 7) rows; options go to the pipeline's call."""
    import torch

    result = pipeline(mono, rows, generator=torch.Generator().manual_seed(seed),
                      progress=progress, **options)
    return Rendering(mono=mono, rows=rows, binaural=result.audio.float().cpu().numpy(),
                     warped=result.warped.float().cpu().numpy())


@dataclass
class Results:
    """The files of one synthesis in its folder, and the gain that kept the output in range.

    `figure` is None for a clip shorter than one frame of the cues (40 ms).
    """

    binaural: Path
    baseline: Path
    mono: Path
    positions: Path
    figure: Path | None
    gain_db: float


def write_results(rendering: Rendering, folder: str | os.PathLike, *,
                  name: str = "recording", title: str = "") -> Results:
    """Writes the three signals (WAV, each within full scale), the rows and the cue figure.

    Args:
        rendering: what `render` returned. folder: an existing folder of this synthesis alone.
        name: the stem of the files (the recording's). title: the figure's title.
    """
    from binauralgrad.evaluation.metrics.cues import FRAME_S
    from binauralgrad.io.audio import limit_peak, write_audio
    from binauralgrad.io.positions import write_positions

    folder = Path(folder)
    binaural, gain = limit_peak(rendering.binaural)
    baseline, _ = limit_peak(rendering.warped)
    mono, _ = limit_peak(rendering.mono[None])
    paths = {key: folder / f"{name}_{suffix}" for key, suffix in (
        ("binaural", "binaural.wav"), ("baseline", "dsp_baseline.wav"), ("mono", "mono_48k.wav"),
        ("positions", "binaural.positions.txt"), ("figure", "cues.png"))}
    for key, audio in (("binaural", binaural), ("baseline", baseline), ("mono", mono)):
        write_audio(paths[key], audio, sample_rate=SAMPLE_RATE)
    write_positions(paths["positions"], rendering.rows)
    if rendering.mono.shape[-1] >= round(FRAME_S * SAMPLE_RATE):
        cue_figure(rendering, paths["figure"], title=title)
    else:  # too short for one frame of the cues
        paths["figure"] = None
    return Results(**paths, gain_db=float(20 * np.log10(gain)))


def top_view(rows: np.ndarray, *, title: str = ""):
    """A matplotlib Figure of the (K, 7) rows seen from above, the listener in the middle."""
    from binauralgrad.evaluation.plots import new_figure
    from binauralgrad.evaluation.scene_plot import draw_top_view

    figure = new_figure(5.0, 4.4)
    axis = figure.add_subplot()
    draw_top_view(axis, rows)
    axis.set_title(title, fontsize=10)
    return figure


def cue_figure(rendering: Rendering, path: str | os.PathLike, *, title: str = "") -> Path:
    """The path from above beside the output's ITD and ILD over time, and the baseline's."""
    from binauralgrad.evaluation.scene_plot import plot_scene

    return plot_scene(rendering.rows, rendering.binaural,
                      {"DSP baseline (geometric warp)": rendering.warped}, path,
                      title=title or "The talker's path and the output's interaural cues",
                      reference_label="BinauralGrad output")


def new_folder(root: str | os.PathLike, *, keep_s: float = 3600.0) -> Path:
    """A fresh folder under `root` for one synthesis; folders older than `keep_s` go first."""
    root = Path(root)
    cutoff = time.time() - keep_s
    for old in root.glob("result-*"):
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="result-", dir=root))
