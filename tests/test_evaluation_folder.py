"""Evaluating a prediction folder against a test set: pairing, weighting, errors, tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from binauralgrad.dsp import geometric_warp
from binauralgrad.evaluation.folder import (
    evaluate_folder,
    format_table,
    pair_sequences,
    write_json,
)
from binauralgrad.evaluation.metrics import compute_metrics, metric_names
from binauralgrad.io.audio import read_wav, write_wav
from binauralgrad.io.positions import write_positions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def speech_like(samples: int, rng: np.random.Generator) -> np.ndarray:
    """Voiced syllables (harmonics of a gliding pitch, with breath noise) separated by pauses."""
    t = np.arange(samples) / 48000
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(pitch) / 48000
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30)) + 0.05 * rng.standard_normal(samples)
    syllables = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.1 * syllables * voiced).astype(np.float32)


def make_testset(root: Path, lengths_s: tuple[float, ...] = (2.0, 1.0), seed: int = 0) -> Path:
    """A tiny test set: a talker moving left and right; the far ear 4 dB quieter than the warp."""
    rng = np.random.default_rng(seed)
    for index, seconds in enumerate(lengths_s):
        folder = root / f"subject{index + 1}"
        frames = int(seconds * 120)
        mono = speech_like(frames * 400, rng)
        positions = np.zeros((frames, 7), np.float32)
        positions[:, 0], positions[:, 6] = 0.8, 1.0
        positions[:, 1] = 0.6 * np.sin(2 * np.pi * 0.3 * np.arange(frames) / 120 + index)
        rows = torch.from_numpy(positions.T.copy())[None]
        warped = geometric_warp(torch.from_numpy(mono)[None, None], rows)[0].numpy()
        far_left = np.repeat(positions[:, 1] > 0, 400)
        binaural = warped * np.stack([np.where(far_left, 0.6, 1.0), np.where(far_left, 1.0, 0.6)])
        write_wav(folder / "mono.wav", mono[None])
        write_wav(folder / "binaural.wav", binaural.astype(np.float32))
        write_positions(folder / "tx_positions.txt", positions)
    return root


def write_predictions(testset: Path, folder: Path, change=lambda audio: audio) -> Path:
    """`<folder>/<sequence>.wav` = change(binaural.wav) for every sequence of the test set."""
    for sequence in sorted(testset.iterdir()):
        write_wav(folder / f"{sequence.name}.wav", change(read_wav(sequence / "binaural.wav")))
    return folder


@pytest.fixture(scope="module")
def testset(tmp_path_factory) -> Path:
    return make_testset(tmp_path_factory.mktemp("testset"))


def noisy(audio: np.ndarray) -> np.ndarray:
    return audio + 0.003 * np.random.default_rng(1).standard_normal(audio.shape).astype(np.float32)


def test_identical_predictions_score_zero(testset, tmp_path):
    result = evaluate_folder(write_predictions(testset, tmp_path), testset, progress=False)
    assert list(result.sequences) == ["subject1", "subject2"]
    assert list(result.overall) == list(metric_names("paper"))
    for name in ("wave_l2", "amplitude_l2", "phase_l2", "mrstft", "itd_error", "ild_error"):
        assert result.overall[name] == 0.0
    assert result.overall["pesq"] > 4.5


def test_overall_weighs_sequences_by_length(testset, tmp_path):
    result = evaluate_folder(write_predictions(testset, tmp_path, noisy), testset, protocol="full")
    assert result.lengths == {"subject1": 96000, "subject2": 48000}
    first, second = result.sequences["subject1"], result.sequences["subject2"]
    for name in result.overall:
        assert result.overall[name] == pytest.approx((2 * first[name] + second[name]) / 3)
    reference = read_wav(testset / "subject2" / "binaural.wav")
    assert second == pytest.approx(compute_metrics(noisy(reference), reference, protocol="full"))
    assert result.to_dict()["overall"]["pesq_full"] == result.overall["pesq_full"]


def test_a_missing_prediction_is_named(testset, tmp_path):
    write_predictions(testset, tmp_path)
    (tmp_path / "subject2.wav").unlink()
    with pytest.raises(FileNotFoundError, match="subject2.wav"):
        pair_sequences(tmp_path, testset)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda audio: audio[:, :-400], "subject1.wav: 95600 samples"),
        (lambda audio: audio[:1], "subject1.wav: 1 channel"),
    ],
)
def test_a_mismatched_prediction_is_named(testset, tmp_path, change, message):
    write_predictions(testset, tmp_path, change)
    with pytest.raises(ValueError, match=message):
        pair_sequences(tmp_path, testset)


def test_a_test_set_without_ground_truth_is_refused(testset, tmp_path):
    folder = tmp_path / "testset" / "subject9"
    folder.mkdir(parents=True)
    for name in ("mono.wav", "tx_positions.txt"):
        (folder / name).write_bytes((testset / "subject1" / name).read_bytes())
    with pytest.raises(FileNotFoundError, match="subject9/binaural.wav"):
        pair_sequences(tmp_path, tmp_path / "testset")
    with pytest.raises(FileNotFoundError, match="prediction folder"):
        pair_sequences(tmp_path / "nowhere", testset)


def test_the_table_prints_the_papers_scale():
    table = format_table({"subject1": {"wave_l2": 2.5e-4, "pesq": 3.0}}, first_column="Sequence")
    header, rule, row = table.splitlines()
    assert "Wave L2 (x1000)" in header and "PESQ" in header and rule.startswith("|---")
    assert row.split("|")[2].strip() == "0.250" and row.split("|")[3].strip() == "3.000"


def test_json_is_written_atomically_and_never_overwritten(tmp_path):
    path = write_json(tmp_path / "results.json", {"overall": {"wave_l2": 1.0}})
    assert json.loads(path.read_text()) == {"overall": {"wave_l2": 1.0}}
    with pytest.raises(FileExistsError, match="overwrite"):
        write_json(path, {})
    write_json(path, {"a": 1}, overwrite=True)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
