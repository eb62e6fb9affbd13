"""Training throughput: rates of tiny and paper-size training steps."""

from __future__ import annotations

import pytest


def test_training_throughput_reports_rates():
    from binauralgrad import DenoiserConfig
    from binauralgrad.training import measure_training_throughput
    from binauralgrad.training.config import TINY_SIZES

    report = measure_training_throughput(DenoiserConfig.stage_two(**TINY_SIZES), 2, 4000, 1,
                                         warmup=0)
    assert report["samples_per_s"] > 0 and report["stage"] == 2 and report["batch_size"] == 2
    with pytest.raises(ValueError, match="clip_length"):
        measure_training_throughput(DenoiserConfig.stage_one(**TINY_SIZES), 2, 4100, 1)
    assert measure_training_throughput("tiny", 1, 4000, 1, stage=2, warmup=0)["stage"] == 2
    with pytest.raises(ValueError, match="huge"):
        measure_training_throughput("huge", 1, 4000, 1)


@pytest.mark.slow
def test_paper_size_training_step_is_finite():
    from binauralgrad import DenoiserConfig
    from binauralgrad.training import measure_training_throughput

    report = measure_training_throughput(DenoiserConfig.stage_two(), 1, 16000, 1, warmup=0)
    assert report["parameters"] > 1_000_000 and report["samples_per_s"] > 0
