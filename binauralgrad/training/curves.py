"""The learning-curve PNG of a run: training loss and held-out validation metrics over steps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

CURVES_FILE = "learning_curves.png"
_SMOOTHING = 20  # steps of the training loss's running mean


def read_metrics(metrics_file: str | os.PathLike) -> list[dict]:
    """The rows of a run's metrics.jsonl (one JSON object per logged step)."""
    lines = Path(metrics_file).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def plot_learning_curves(metrics_file: str | os.PathLike, path: str | os.PathLike, *,
                         title: str = "") -> Path:
    """Training loss and every `eval/*` metric against the step, one panel each (log scale),
    with the geometric warp's score on the same clips (`eval_dsp/*`) as a dashed line and the
    model's own prior alone (`eval_prior/*`) as a dotted one: the model pays where it is below
    the dotted line. A learned head's own curve (`eval_head/*`) is drawn beside the model's.

    Args:
        metrics_file: the run's metrics.jsonl.
        path: the PNG to write (replaced atomically).
        title: the figure's title, e.g. the run's folder.

    Returns:
        The path written.
    """
    from binauralgrad.evaluation.plots import new_figure, save_figure

    rows = read_metrics(metrics_file)
    panels = {"train/loss": [(row["step"], row["train/loss"]) for row in rows
                             if "train/loss" in row]}
    for key in dict.fromkeys(key for row in rows for key in row if key.startswith("eval/")):
        panels[key] = [(row["step"], row[key]) for row in rows if key in row]
    panels = {key: np.asarray(values, dtype=np.float64) for key, values in panels.items()
              if values}
    # The DSP baseline on the same clips, logged once as eval_dsp/<metric>.
    baselines = {f"eval/{key.split('/', 1)[1]}": row[key] for row in rows for key in row
                 if key.startswith("eval_dsp/")}
    priors = {f"eval/{key.split('/', 1)[1]}": row[key] for row in rows for key in row
              if key.startswith("eval_prior/")}
    heads = {}  # a learned head's own curve, `eval_head/*`, where the prior has one
    for row in rows:
        for key in row:
            if key.startswith("eval_head/"):
                heads.setdefault(f"eval/{key.split('/', 1)[1]}", []).append((row["step"], row[key]))
    figure = new_figure(3.4 * max(1, len(panels)), 3.0)
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for axis, (key, values) in zip(axes, panels.items(), strict=False):
        steps, numbers = values[:, 0], values[:, 1]
        marker = "o" if key.startswith("eval/") else None
        axis.plot(steps, numbers, marker=marker, markersize=3, linewidth=1, alpha=0.6,
                  label="model" if key.startswith("eval/") else None)
        if key == "train/loss" and len(numbers) > _SMOOTHING:
            smooth = np.convolve(numbers, np.ones(_SMOOTHING) / _SMOOTHING, mode="valid")
            axis.plot(steps[_SMOOTHING - 1:], smooth, color="black", linewidth=1.4,
                      label=f"running mean of {_SMOOTHING} logged steps")
        if key in baselines:
            axis.axhline(baselines[key], color="tab:red", linestyle="--", linewidth=1,
                         label="geometric warp")
        if key in heads:
            head_steps, head_values = np.asarray(heads[key], dtype=np.float64).T
            axis.plot(head_steps, head_values, color="tab:purple", linewidth=1.2,
                      label="learned head alone")
        if key in priors:
            axis.axhline(priors[key], color="tab:green", linestyle=":", linewidth=1.4,
                         label="prior alone")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
        if np.all(numbers > 0):
            axis.set_yscale("log")
        axis.set_title(key, fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.suptitle(title or "Learning curves (eval/*: held-out clips, lower is better)")
    return save_figure(figure, path, overwrite=True)
