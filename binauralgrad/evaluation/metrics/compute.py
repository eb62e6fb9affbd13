"""All metrics of one prediction at once, their display names, and length-weighted averages."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from binauralgrad.constants import EVALUATION_PROTOCOLS, SAMPLE_RATE
from binauralgrad.evaluation.metrics.cues import ild_error, itd_error
from binauralgrad.evaluation.metrics.distances import amplitude_l2, mrstft, phase_l2, wave_l2
from binauralgrad.evaluation.metrics.floor import noise_floor_db
from binauralgrad.evaluation.metrics.quality import pesq, pesq_full
from binauralgrad.evaluation.metrics.signals import as_pair

PROTOCOLS = EVALUATION_PROTOCOLS
_CUE_ERRORS = ("itd_error", "ild_error")


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown in tables and plots."""

    label: str
    unit: str = ""
    scale: float = 1.0  # tables print value * scale (the paper prints Wave L2 x1000)
    digits: int = 3
    higher_is_better: bool = False

    def format(self, value: float) -> str:
        """The value as the table prints it."""
        return f"{value * self.scale:.{self.digits}f}"


METRICS: dict[str, MetricInfo] = {
    "wave_l2": MetricInfo("Wave L2 (x1000)", scale=1000.0),
    "amplitude_l2": MetricInfo("Amplitude L2", digits=4),
    "phase_l2": MetricInfo("Phase L2", "rad"),
    "mrstft": MetricInfo("MRSTFT"),
    "pesq": MetricInfo("PESQ", "MOS", higher_is_better=True),
    "pesq_full": MetricInfo("PESQ full", "MOS", higher_is_better=True),
    "itd_error": MetricInfo("ITD error", "us", digits=1),
    "ild_error": MetricInfo("ILD error", "dB", digits=2),
    # Not an error to minimise but a level: 0 is right, > 0 is noise left in the pauses.
    "noise_floor": MetricInfo("Noise floor", "dB re ref", digits=1),
}


def metric_names(protocol: str = "paper") -> tuple[str, ...]:
    """The metrics `compute_metrics` reports for a protocol, in table order."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return tuple(name for name in METRICS if protocol == "full" or name != "pesq_full")


def compute_metrics(
    prediction,
    reference,
    *,
    protocol: str = "paper",
    sample_rate: int = SAMPLE_RATE,
    metrics: Iterable[str] | None = None,
) -> dict[str, float]:
    """Every benchmark metric of a prediction against its reference.

    Args:
        prediction, reference: (C, T) or (B, C, T) arrays or tensors of the same shape at
            `sample_rate`, channels left then right; batch items are pooled like channels.
        protocol: "paper" (PESQ on the left ear's first 5 s) or "full" (adds `pesq_full`).
        sample_rate: Hz.
        metrics: a subset of `metric_names(protocol)` to compute (e.g. to skip PESQ during
            training); None computes all. Interaural cue errors need two channels and are
            skipped for other channel counts unless asked for by name.

    Returns:
        {name: value}, names as in `METRICS`; `wave_l2` is unscaled, `itd_error` in microseconds,
        `ild_error` in dB.
    """
    available = metric_names(protocol)
    prediction, reference = as_pair(prediction, reference)
    if metrics is None:
        wanted = [name for name in available if prediction.shape[1] == 2 or name not in _CUE_ERRORS]
    else:
        wanted = list(metrics)
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise ValueError(
                f"unknown metric(s) {unknown} for protocol {protocol!r};"
                f" choose from {list(available)}"
            )
    functions = {
        "wave_l2": lambda: wave_l2(prediction, reference),
        "amplitude_l2": lambda: amplitude_l2(prediction, reference),
        "phase_l2": lambda: phase_l2(prediction, reference),
        "mrstft": lambda: mrstft(prediction, reference),
        "pesq": lambda: pesq(prediction, reference, sample_rate=sample_rate),
        "pesq_full": lambda: pesq_full(prediction, reference, sample_rate=sample_rate),
        "itd_error": lambda: itd_error(prediction, reference, sample_rate=sample_rate),
        "ild_error": lambda: ild_error(prediction, reference, sample_rate=sample_rate),
        "noise_floor": lambda: noise_floor_db(prediction, reference, sample_rate=sample_rate),
    }
    return {name: functions[name]() for name in wanted}


def weighted_mean(
    results: Sequence[Mapping[str, float]], weights: Sequence[float]
) -> dict[str, float]:
    """Averages per-sequence metric dicts with the given weights (the benchmark weighs by length).

    Args:
        results: one {name: value} per sequence; a metric is averaged over the sequences having it.
        weights: one positive weight per sequence, e.g. its number of samples.

    Returns:
        {name: weighted mean}, names in first-seen order.
    """
    if len(results) != len(weights):
        raise ValueError(f"{len(results)} results but {len(weights)} weights")
    if not results:
        raise ValueError("nothing to average: no results")
    if any(not weight > 0 for weight in weights):
        raise ValueError(f"weights must be positive, got {list(weights)}")
    names = list(dict.fromkeys(name for result in results for name in result))
    average = {}
    for name in names:
        pairs = [
            (result[name], weight)
            for result, weight in zip(results, weights, strict=True)
            if name in result
        ]
        average[name] = math.fsum(value * weight for value, weight in pairs) / math.fsum(
            w for _, w in pairs
        )
    return average
