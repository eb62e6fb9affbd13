"""Evaluating a folder of predictions against a test set: pairing, per-sequence metrics, tables."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from binauralgrad.evaluation.metrics import METRICS, compute_metrics, metric_names, weighted_mean
from binauralgrad.io.atomic import write_text
from binauralgrad.io.audio import audio_info, read_wav

REFERENCE_FILE = "binaural.wav"


@dataclass(frozen=True)
class SequencePair:
    """A test sequence and the files to compare: `<predictions>/<name>.wav` vs its binaural.wav."""

    name: str
    prediction: Path
    reference: Path


@dataclass
class EvaluationResult:
    """Metrics of every sequence and their length-weighted average (the paper's `overall`).

    Attributes:
        overall: {metric: value} averaged over sequences with weights proportional to length.
        sequences: {sequence name: {metric: value}}.
        lengths: {sequence name: number of samples}.
        protocol: "paper" or "full".
    """

    overall: dict[str, float]
    sequences: dict[str, dict[str, float]]
    lengths: dict[str, int] = field(default_factory=dict)
    protocol: str = "paper"

    def to_dict(self) -> dict:
        """The JSON form: {"overall", "sequences", "lengths", "protocol"}; wave_l2 unscaled."""
        return {
            "overall": self.overall,
            "sequences": self.sequences,
            "lengths": self.lengths,
            "protocol": self.protocol,
        }


def _find_sequences(root: Path) -> list[Path]:
    # The dataset module owns the layout; imported lazily so that evaluating needs no `datasets`.
    from binauralgrad.data.sequence import find_sequences

    return find_sequences(root)


def pair_sequences(
    prediction_dir: str | os.PathLike, testset_dir: str | os.PathLike
) -> list[SequencePair]:
    """Pairs each sequence folder of a test set with `<prediction_dir>/<sequence>.wav`.

    Args:
        prediction_dir: folder of predicted `<sequence>.wav` files (other files are ignored).
        testset_dir: test set folder of sequence folders holding binaural.wav.

    Returns:
        One SequencePair per test sequence, in the test set's natural order, each checked to
        exist with 2 channels, the reference's rate and its length.
    """
    prediction_dir, testset_dir = Path(prediction_dir), Path(testset_dir)
    if not prediction_dir.is_dir():
        raise FileNotFoundError(f"no such prediction folder: {prediction_dir}")
    pairs = [
        SequencePair(folder.name, prediction_dir / f"{folder.name}.wav", folder / REFERENCE_FILE)
        for folder in _find_sequences(testset_dir)
    ]
    names = [pair.name for pair in pairs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{testset_dir}: several sequence folders are named {duplicates}")
    for pair in pairs:
        if not pair.reference.is_file():
            raise FileNotFoundError(f"test sequence without ground truth: no {pair.reference}")
        if not pair.prediction.is_file():
            raise FileNotFoundError(f"no prediction for sequence {pair.name!r}: {pair.prediction}")
        _check_format(pair)
    return pairs


def _check_format(pair: SequencePair) -> None:
    # Read the headers only, so that a wrong file fails before minutes of metrics.
    predicted, expected = audio_info(pair.prediction), audio_info(pair.reference)
    if predicted.channels != 2 or predicted.samplerate != expected.samplerate:
        raise ValueError(
            f"{pair.prediction}: {predicted.channels} channel(s) at {predicted.samplerate} Hz,"
            f" expected 2 at {expected.samplerate} Hz"
        )
    if predicted.frames != expected.frames:
        raise ValueError(
            f"{pair.prediction}: {predicted.frames} samples, but {pair.reference}"
            f" has {expected.frames}"
        )


def load_pair(pair: SequencePair) -> tuple[np.ndarray, np.ndarray]:
    """Reads a pair as (2, T) float32 arrays, checking rate, channels and equal length."""
    prediction = read_wav(pair.prediction, channels=2)
    reference = read_wav(pair.reference, channels=2)
    if prediction.shape != reference.shape:
        raise ValueError(
            f"{pair.prediction}: {prediction.shape[-1]} samples, but {pair.reference}"
            f" has {reference.shape[-1]}"
        )
    return prediction, reference


def evaluate_pairs(
    pairs: list[SequencePair], *, protocol: str = "paper", progress: bool = True
) -> EvaluationResult:
    """Computes every metric of each pair and the length-weighted overall average.

    Args:
        pairs: from `pair_sequences`.
        protocol: "paper" or "full" (adds the full-length, both-ears PESQ).
        progress: show a progress bar over the sequences.

    Returns:
        An EvaluationResult.
    """
    metric_names(protocol)  # validates the protocol before any audio is read
    sequences, lengths = {}, {}
    for pair in tqdm(pairs, desc="Evaluating", unit="sequence", disable=not progress):
        prediction, reference = load_pair(pair)
        try:
            sequences[pair.name] = compute_metrics(prediction, reference, protocol=protocol)
        except ValueError as error:
            raise ValueError(f"sequence {pair.name!r}: {error}") from error
        lengths[pair.name] = reference.shape[-1]
    overall = weighted_mean(list(sequences.values()), list(lengths.values()))
    return EvaluationResult(overall, sequences, lengths, protocol)


def evaluate_folder(
    prediction_dir: str | os.PathLike,
    testset_dir: str | os.PathLike,
    *,
    protocol: str = "paper",
    progress: bool = True,
) -> EvaluationResult:
    """Evaluates `<prediction_dir>/<sequence>.wav` against every sequence of a test set.

    Args:
        prediction_dir: folder of predictions (2 channels, 48 kHz, the references' lengths).
        testset_dir: test set folder (sequence folders with binaural.wav).
        protocol: "paper" or "full".
        progress: show a progress bar.

    Returns:
        An EvaluationResult.
    """
    return evaluate_pairs(
        pair_sequences(prediction_dir, testset_dir), protocol=protocol, progress=progress
    )


def format_table(rows: Mapping[str, Mapping[str, float]], *, first_column: str = "") -> str:
    """A Markdown table of metrics as the paper prints them (Wave L2 x1000).

    Args:
        rows: {row label: {metric: value}}; the columns are the known metrics any row has.
        first_column: header of the label column.

    Returns:
        The table, one line per row, columns aligned.
    """
    names = [name for name in METRICS if any(name in row for row in rows.values())]
    header = [first_column] + [_column_title(name) for name in names]
    body = [
        [label] + [METRICS[name].format(row[name]) if name in row else "-" for name in names]
        for label, row in rows.items()
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def _column_title(name: str) -> str:
    info = METRICS[name]
    return f"{info.label} ({info.unit})" if info.unit in ("us", "dB") else info.label


def write_json(path: str | os.PathLike, data: Mapping, *, overwrite: bool = False) -> Path:
    """Writes `data` as indented JSON, atomically; an existing file only with `overwrite`."""
    return write_text(path, json.dumps(data, indent=2) + "\n", overwrite=overwrite)
