"""The `evaluate` module of the benchmark's metrics: `evaluate.load(str(METRIC_PATH))`."""

from pathlib import Path

METRIC_PATH = Path(__file__).with_name("binaural_metrics.py")

__all__ = ["METRIC_PATH"]
