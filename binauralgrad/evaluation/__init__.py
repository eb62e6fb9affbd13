"""Evaluation: the benchmark's metrics, folder evaluation, the test-set benchmark and figures."""

from __future__ import annotations

from binauralgrad._lazy import lazy_exports

# Public name -> defining module, imported on first use: the metrics load torch, the figures
# matplotlib, the benchmark accelerate; `binauralgrad evaluate` needs only some of them.
_EXPORTS = {
    **dict.fromkeys(("EvaluationResult", "SequencePair", "evaluate_folder", "evaluate_pairs",
                     "format_table", "load_pair", "pair_sequences", "write_json"),
                    "binauralgrad.evaluation.folder"),
    **dict.fromkeys(("BenchmarkResult", "run_benchmark"), "binauralgrad.evaluation.benchmark"),
    **dict.fromkeys(("METRICS", "compute_metrics", "metric_names", "weighted_mean"),
                    "binauralgrad.evaluation.metrics"),
    "METRIC_PATH": "binauralgrad.evaluation.binaural_metrics",
    **dict.fromkeys(("plot_files", "write_plots"), "binauralgrad.evaluation.plots"),
    "plot_scene": "binauralgrad.evaluation.scene_plot",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
