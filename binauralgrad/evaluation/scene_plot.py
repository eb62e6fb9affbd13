"""One picture of a scene: the talker's path seen from above, and the interaural cues over time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from binauralgrad import dsp
from binauralgrad.constants import FRAME_SAMPLES, SAMPLE_RATE
from binauralgrad.evaluation.plots import cue_bands, draw_cues, new_figure, save_figure

HEAD_RADIUS_M = 0.0875
_ARROWS = 8  # facing arrows along the path


def draw_top_view(axis, positions: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> None:
    """The listener's head at the origin (nose along +x) and the talker's path, coloured by time.

    Args:
        axis: a matplotlib axis.
        positions: (K, 7) tracking rows `x y z qx qy qz qw`, one per 400 samples.
    """
    positions = np.asarray(positions, dtype=np.float64)
    times = np.arange(len(positions)) * FRAME_SAMPLES / sample_rate
    # Drawn with x (forward) pointing up the page and y (right) to the right: a listener's view
    # of the floor plan from above.
    across, ahead = positions[:, 1], positions[:, 0]
    points = axis.scatter(across, ahead, c=times, cmap="viridis", s=4, zorder=2)
    axis.plot(across[0], ahead[0], "o", color="tab:green", label="start", zorder=3)
    axis.plot(across[-1], ahead[-1], "s", color="tab:red", label="end", zorder=3)
    facing = _facing(positions)
    picks = np.linspace(0, len(positions) - 1, _ARROWS).round().astype(int)
    axis.quiver(across[picks], ahead[picks], facing[picks, 1], facing[picks, 0],
                angles="xy", scale_units="xy", scale=4.0, width=0.006, color="tab:grey",
                zorder=3, label="talker facing")
    head = _circle(HEAD_RADIUS_M)
    axis.fill(head[0], head[1], color="lightgrey", zorder=1)
    axis.plot([0, 0], [HEAD_RADIUS_M, 1.5 * HEAD_RADIUS_M], color="black")  # the nose
    for side, label in ((-1, "L"), (1, "R")):
        axis.annotate(label, (side * HEAD_RADIUS_M, 0), ha="center", va="center", fontsize=8,
                      xytext=(side * 2.2 * HEAD_RADIUS_M, 0))
    axis.set_aspect("equal", adjustable="datalim")
    axis.set_xlabel("y: right of the listener [m]")
    axis.set_ylabel("x: ahead of the listener [m]")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    axis.figure.colorbar(points, ax=axis, label="time [s]", shrink=0.8)


def _facing(positions: np.ndarray) -> np.ndarray:
    """(K, 3) the talker's forward direction, by the geometric warp's own rotation convention."""
    quaternions = dsp.normalized_quaternions(torch.from_numpy(positions[:, 3:]))
    forward = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    return dsp.rotate_inverse(forward, quaternions).numpy()


def _circle(radius: float) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, 64)
    return radius * np.stack([np.cos(angles), np.sin(angles)])


def plot_scene(positions: np.ndarray, reference: np.ndarray,
               predictions: Mapping[str, np.ndarray], path: str | os.PathLike, *,
               title: str = "", sample_rate: int = SAMPLE_RATE, overwrite: bool = False,
               reference_label: str = "reference") -> Path:
    """The path from above beside the ITD and ILD tracks of the reference and each prediction.

    Args:
        positions: (K, 7) tracking rows. reference: (2, T) the true ears.
        predictions: {label: (2, T) audio}, e.g. the model and the DSP baseline.
        path: the PNG to write (atomically; an existing file only with `overwrite`).
        reference_label: the legend's name of `reference` (e.g. a model's output, where no
            true ears exist).

    Returns:
        The path written.
    """
    bands = cue_bands(sample_rate)
    figure = new_figure(15, 2.0 * (1 + len(bands)) + 0.6)
    grid = figure.add_gridspec(1 + len(bands), 2, width_ratios=(1, 2))
    draw_top_view(figure.add_subplot(grid[:, 0]), positions, sample_rate=sample_rate)
    first = figure.add_subplot(grid[0, 1])
    axes = [first] + [figure.add_subplot(grid[row, 1], sharex=first)
                      for row in range(1, 1 + len(bands))]
    draw_cues(axes, reference, predictions, sample_rate=sample_rate,
              reference_label=reference_label)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower right", fontsize=9, ncol=len(labels))
    figure.suptitle(title or "The talker's path and the interaural cues it produces")
    return save_figure(figure, path, overwrite)
