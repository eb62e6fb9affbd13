"""Tests of the benchmark's metrics: parity with the original, auraloss, properties, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from binauralgrad.evaluation.metrics import (
    amplitude_l2,
    compute_metrics,
    metric_names,
    mrstft,
    mrstft_loss,
    pesq,
    pesq_full,
    phase_distance,
    phase_l2,
    wave_l2,
    weighted_mean,
)

FIXTURES = Path(__file__).parent / "fixtures"
DISTANCES = {
    "wave_l2": wave_l2,
    "amplitude_l2": amplitude_l2,
    "phase_l2": phase_l2,
    "mrstft": mrstft,
}


@pytest.fixture(scope="module")
def signals() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "metrics_small.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def expected() -> dict[str, dict[str, float]]:
    return json.loads((FIXTURES / "metrics_small.json").read_text())


def noise(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("prediction", ["pred_0", "pred_1"])
@pytest.mark.parametrize("name", list(DISTANCES))
def test_distances_match_the_original(signals, expected, prediction, name):
    value = DISTANCES[name](signals[prediction], signals["reference"])
    assert value == pytest.approx(expected[prediction][name], rel=1e-4)


@pytest.mark.parametrize("prediction", ["pred_0", "pred_1"])
def test_pesq_matches_the_paper_protocol(signals, expected, prediction):
    assert (
        abs(pesq(signals[prediction], signals["reference"]) - expected[prediction]["pesq"]) < 0.02
    )


def test_pesq_full_scores_both_ears_over_the_whole_signal(signals):
    prediction, reference = signals["pred_0"], signals["reference"]
    full = pesq_full(prediction, reference)
    per_ear = [pesq(prediction, reference, duration_s=None, channel=channel) for channel in (0, 1)]
    assert full == pytest.approx(np.mean(per_ear))
    assert 1.0 < full < 4.7 and full != pytest.approx(pesq(prediction, reference))


def test_phase_thresholds_come_from_the_reference(signals, expected):
    prediction = torch.from_numpy(signals["pred_0"])
    reference = torch.from_numpy(signals["reference"])
    swapped = float(phase_distance(reference, prediction, ignore_below=0.2))
    assert float(phase_distance(prediction, reference, ignore_below=0.2)) == pytest.approx(
        expected["pred_0"]["phase_l2"], rel=1e-6
    )
    assert abs(swapped - expected["pred_0"]["phase_l2"]) > 1e-3


def test_phase_distance_is_differentiable_in_both_arguments():
    target = noise((2, 1, 4800), seed=1).requires_grad_()
    prediction = (target.detach() + noise((2, 1, 4800), seed=2)).requires_grad_()
    loss = phase_distance(prediction, target, ignore_below=0.1)
    loss.backward()
    assert loss.ndim == 0 and 0 < loss.item() < np.pi
    for tensor in (prediction, target):
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_phase_distance_of_silence_is_zero_and_keeps_the_graph():
    prediction = torch.zeros(1, 4800, requires_grad=True)
    loss = phase_distance(prediction, torch.zeros(1, 4800), ignore_below=0.2)
    loss.backward()
    assert loss.item() == 0.0 and prediction.grad is not None


def test_mrstft_equals_auraloss():
    auraloss = pytest.importorskip("auraloss")
    prediction, reference = noise((3, 2, 6000), seed=3), noise((3, 2, 6000), seed=4)
    expected = auraloss.freq.MultiResolutionSTFTLoss()(prediction, reference)
    assert float(mrstft_loss(prediction, reference)) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("name", list(DISTANCES))
def test_identical_inputs_score_zero(signals, name):
    assert DISTANCES[name](signals["reference"], signals["reference"].copy()) == 0.0


def test_batched_inputs_pool_like_channels(signals):
    batch = np.stack([signals["pred_0"], signals["pred_1"]])
    references = np.stack([signals["reference"]] * 2)
    expected = np.mean(
        [wave_l2(signals[key], signals["reference"]) for key in ("pred_0", "pred_1")]
    )
    assert wave_l2(batch, references) == pytest.approx(expected, rel=1e-6)
    assert amplitude_l2(torch.from_numpy(batch), torch.from_numpy(references)) > 0


def test_numpy_torch_and_float64_agree(signals):
    prediction, reference = signals["pred_1"], signals["reference"]
    as_numpy = mrstft(prediction, reference)
    assert mrstft(torch.from_numpy(prediction), torch.from_numpy(reference)) == as_numpy
    assert mrstft(prediction.astype(np.float64), reference) == pytest.approx(as_numpy, rel=1e-4)


def test_compute_metrics_reports_every_metric_of_the_protocol(signals, expected):
    paper = compute_metrics(signals["pred_1"], signals["reference"])
    assert list(paper) == list(metric_names("paper"))
    assert "pesq_full" not in paper
    cues = ["itd_error", "ild_error"]
    assert compute_metrics(signals["reference"], signals["reference"], metrics=cues) == \
        {"itd_error": 0.0, "ild_error": 0.0}
    # The right ear 10 samples late: an interaural delay off by 10 / 48 kHz = 208.3 us.
    late = signals["reference"].copy()
    late[1] = np.concatenate([np.zeros(10, late.dtype), late[1, :-10]])
    shifted = compute_metrics(late, signals["reference"], metrics=cues)
    assert shifted["itd_error"] == pytest.approx(10 / 48000 * 1e6, rel=0.01)
    assert shifted["ild_error"] < 0.1  # a delay leaves the levels alone
    for name in DISTANCES:
        assert paper[name] == pytest.approx(expected["pred_1"][name], rel=1e-4)
    chosen = compute_metrics(
        signals["pred_1"], signals["reference"], protocol="full", metrics=["pesq_full"]
    )
    assert list(chosen) == ["pesq_full"]


def test_compute_metrics_skips_cues_for_one_channel():
    reference = noise((1, 1, 24000), seed=5)
    result = compute_metrics(reference + 0.01, reference, metrics=None, protocol="paper")
    assert "itd_error" not in result and "ild_error" not in result and result["wave_l2"] > 0


@pytest.mark.parametrize(
    ("prediction", "reference", "message"),
    [
        (np.zeros((2, 4800)), np.zeros((2, 4801)), "shapes differ"),
        (np.zeros(4800), np.zeros(4800), "must be"),
        (np.full((2, 4800), np.nan), np.zeros((2, 4800)), "NaN"),
        (np.zeros((2, 500)), np.zeros((2, 500)), "too short"),
    ],
)
def test_bad_inputs_raise_clear_errors(prediction, reference, message):
    with pytest.raises(ValueError, match=message):
        amplitude_l2(prediction, reference)


def test_bad_metric_requests_raise_clear_errors():
    reference = noise((2, 4800))
    with pytest.raises(ValueError, match="protocol"):
        compute_metrics(reference, reference, protocol="fancy")
    with pytest.raises(ValueError, match="pesq_full"):
        compute_metrics(reference, reference, metrics=["pesq_full"])
    with pytest.raises(ValueError, match="silent"):
        pesq(np.zeros((2, 48000)), np.zeros((2, 48000)))
    with pytest.raises(ValueError, match="PESQ cannot score"):
        pesq(reference, reference)  # 0.1 s: shorter than PESQ's minimum


def test_weighted_mean_weighs_by_length():
    average = weighted_mean([{"a": 1.0, "b": 2.0}, {"a": 4.0}], [1, 2])
    assert average == {"a": 3.0, "b": 2.0}
    with pytest.raises(ValueError, match="weights"):
        weighted_mean([{"a": 1.0}], [0])


def test_the_evaluate_module_gives_the_same_numbers(signals, expected, tmp_path):
    evaluate = pytest.importorskip("evaluate")
    from binauralgrad.evaluation.binaural_metrics import METRIC_PATH

    metric = evaluate.load(str(METRIC_PATH), cache_dir=str(tmp_path))
    predictions = [signals["pred_0"][:, :72000], signals["pred_1"][:, :48000]]
    references = [signals["reference"][:, :72000], signals["reference"][:, :48000]]
    result = metric.compute(predictions=predictions, references=references, protocol="full")
    each = [
        compute_metrics(p, r, protocol="full") for p, r in zip(predictions, references, strict=True)
    ]
    assert result == pytest.approx(weighted_mean(each, [72000, 48000]), rel=1e-6)
    assert list(result) == list(metric_names("full"))
    by_folder = evaluate.load(str(METRIC_PATH.parent), cache_dir=str(tmp_path))
    single = by_folder.compute(predictions=[signals["pred_0"]], references=[signals["reference"]])
    for name in ("wave_l2", "amplitude_l2", "phase_l2", "mrstft"):
        assert single[name] == pytest.approx(expected["pred_0"][name], rel=1e-4)
    assert abs(single["pesq"] - expected["pred_0"]["pesq"]) < 0.02


def test_long_signals_are_processed_in_groups_of_rows_with_the_same_result(monkeypatch):
    import binauralgrad.evaluation.metrics.distances as distances

    prediction, reference = noise((3, 2, 6000), seed=6), noise((3, 2, 6000), seed=7)
    whole = [f(prediction, reference) for f in (amplitude_l2, phase_l2, mrstft)]
    monkeypatch.setattr(distances, "_GROUP_SAMPLES", 13000)  # groups of 2 rows
    assert [f(prediction, reference) for f in (amplitude_l2, phase_l2, mrstft)] == pytest.approx(
        whole, rel=1e-5
    )
    prediction.requires_grad_()
    phase_distance(prediction, reference, ignore_below=0.2).backward()
    assert prediction.grad.abs().sum() > 0


def test_mrstft_loss_has_finite_gradients_even_at_zero_error():
    reference = noise((2, 1, 4800), seed=8)
    prediction = reference.clone().requires_grad_()
    loss = mrstft_loss(prediction, reference)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(prediction.grad).all()


def test_noise_floor_measures_the_reference_pauses():
    from binauralgrad.evaluation.metrics import noise_floor_db

    generator = torch.Generator().manual_seed(0)
    time = torch.arange(48000) / 48000
    speech = torch.sin(2 * torch.pi * 200 * time) * (time < 0.5)  # then silence...
    reference = torch.stack([speech, speech]) + 1e-4 * torch.randn(2, 48000, generator=generator)
    assert noise_floor_db(reference, reference) == 0.0
    assert noise_floor_db(2 * reference, reference) == pytest.approx(20 * math.log10(2), abs=1e-6)
    noisy = reference + 1e-2 * torch.randn(2, 48000, generator=generator)  # ...filled with noise
    assert noise_floor_db(noisy, reference) > 30
    with pytest.raises(ValueError, match="quiet_fraction"):
        noise_floor_db(reference, reference, quiet_fraction=0)
