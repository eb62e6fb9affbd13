"""Deprecated: the `evaluate` module moved to `binauralgrad.evaluation.binaural_metrics`."""

from __future__ import annotations

import warnings


def __getattr__(name: str):
    if name == "METRIC_PATH":
        # stacklevel 2 names the caller's line, so the warning shows where to change it.
        warnings.warn("binauralgrad.binaural_metrics is deprecated: use "
                      "binauralgrad.evaluation.binaural_metrics.METRIC_PATH",
                      DeprecationWarning, stacklevel=2)
        from binauralgrad.evaluation.binaural_metrics import METRIC_PATH

        return METRIC_PATH
    raise AttributeError(f"module 'binauralgrad.binaural_metrics' has no attribute {name!r}")
