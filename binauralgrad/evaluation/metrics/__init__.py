"""The benchmark's metrics (paper protocol), PESQ variants and interaural cue errors."""

from binauralgrad.evaluation.metrics.compute import (
    METRICS,
    PROTOCOLS,
    MetricInfo,
    compute_metrics,
    metric_names,
    weighted_mean,
)
from binauralgrad.evaluation.metrics.cues import (
    CueTrack,
    ild_error,
    ild_track,
    itd_error,
    itd_track,
)
from binauralgrad.evaluation.metrics.distances import (
    amplitude_l2,
    mrstft,
    mrstft_loss,
    phase_distance,
    phase_l2,
    wave_l2,
)
from binauralgrad.evaluation.metrics.floor import noise_floor_db
from binauralgrad.evaluation.metrics.quality import pesq, pesq_full

__all__ = [
    "METRICS",
    "PROTOCOLS",
    "CueTrack",
    "MetricInfo",
    "amplitude_l2",
    "compute_metrics",
    "ild_error",
    "ild_track",
    "itd_error",
    "itd_track",
    "metric_names",
    "mrstft",
    "mrstft_loss",
    "noise_floor_db",
    "pesq",
    "pesq_full",
    "phase_distance",
    "phase_l2",
    "wave_l2",
    "weighted_mean",
]
