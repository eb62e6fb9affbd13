"""The evaluation's figures: metric bars, cue tracks and spectrograms, written as PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_evaluation_folder import PNG_SIGNATURE, make_testset, noisy, write_predictions

from binauralgrad.evaluation.folder import pair_sequences
from binauralgrad.evaluation.plots import (
    plot_cues,
    plot_files,
    plot_metrics,
    plot_spectrograms,
    write_plots,
)
from binauralgrad.io.audio import read_wav


@pytest.fixture(scope="module")
def testset(tmp_path_factory) -> Path:
    return make_testset(tmp_path_factory.mktemp("testset"))


def test_plots_are_written_as_pngs(testset, tmp_path):
    reference = read_wav(testset / "subject2" / "binaural.wav")
    predictions = {"noisy": noisy(reference), "swapped": reference[::-1].copy()}
    paths = [
        plot_cues(reference, predictions, tmp_path / "cues.png", title="subject2"),
        plot_spectrograms(reference, predictions, tmp_path / "spectrograms.png", duration_s=1.0),
        plot_metrics({"a": {"s1": {"wave_l2": 1e-4, "pesq": 3.0}}}, tmp_path / "metrics.png"),
    ]
    for path in paths:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(FileExistsError):
        plot_metrics({"a": {"s1": {"wave_l2": 1e-4}}}, tmp_path / "metrics.png")


def test_write_plots_writes_every_listed_figure(testset, tmp_path):
    predictions = write_predictions(testset, tmp_path / "predictions", noisy)
    pairs = pair_sequences(predictions, testset)
    files = {pair.name: {"reference": pair.reference, "model": pair.prediction} for pair in pairs}
    results = {"model": {pair.name: {"wave_l2": 1e-5} for pair in pairs}}
    written = write_plots(tmp_path / "plots", files, results)
    assert written == plot_files(tmp_path / "plots", ["subject1", "subject2"])
    assert all(path.stat().st_size > 10_000 for path in written)


def test_spectrograms_show_what_each_system_adds_over_the_prior():
    from binauralgrad.evaluation.plots import residuals

    rng = np.random.default_rng(0)
    reference, model, prior, warp = (rng.standard_normal((2, 100)) for _ in range(4))
    audio = {"BinauralGrad": model, "Prior alone (the model's DSP prior)": prior,
             "DSP (geometric warp)": warp}
    added = residuals(reference, audio)
    assert set(added) == {"reference - prior", "BinauralGrad - prior"}
    np.testing.assert_array_equal(added["BinauralGrad - prior"], model - prior)
    assert residuals(reference, {"BinauralGrad": model}) == {}
