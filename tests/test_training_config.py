"""TrainingConfig and its command-line options: the paper's defaults, validation, recipes."""

from __future__ import annotations

import pytest

from binauralgrad.training.arguments import build_parser, config_from_args, parse_config
from binauralgrad.training.config import TrainingConfig


@pytest.mark.parametrize("field,value", [
    ("stage", 3), ("model_config", "huge"), ("mixed_precision", "fp8"), ("batch_size", 0),
    ("clip_length", 4100), ("clip_length", 800), ("learning_rate", -1.0), ("ema_decay", 1.0),
    ("max_grad_norm", 0.0), ("gradient_accumulation_steps", 5), ("validate_every", 10),
    ("max_steps", True), ("lambda_phase", -0.1), ("clip_length", 120000),
    ("noise_levels", "cosine"), ("lr_schedule", "linear"), ("warmup_steps", -1),
    ("prior", "gaussian"), ("prior_scale", 0.0),
])
def test_config_refuses_bad_values(tmp_path, field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        TrainingConfig(**{"stage": 1, "data_dir": tmp_path, "output_dir": tmp_path, field: value})


def test_config_defaults_are_the_papers(tmp_path):
    config = TrainingConfig(stage=2, data_dir=tmp_path, output_dir=tmp_path)
    assert (config.batch_size, config.learning_rate, config.clip_length) == (48, 2e-4, 32000)
    assert config.denoiser_config().residual_layers == 30
    assert config.denoiser_config().out_channels == 2
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        TrainingConfig.from_dict({**config.to_dict(), "lr": 1})


def test_options_map_onto_the_config(tmp_path):
    config = parse_config(["--stage", "2", "--data-dir", "d", "--output-dir", str(tmp_path),
                           "--max-steps", "7", "--batch-size", "8", "--log-with", "tensorboard",
                           "--ema-decay", "0.999", "--resume", "latest", "--no-progress",
                           "--model-config", "tiny", "--mixed-precision", "bf16"])
    assert (config.stage, config.max_steps, config.batch_size, config.ema_decay) == (2, 7, 8, 0.999)
    assert config.log_with == ["tensorboard"] and config.resume == "latest"
    assert not config.progress and config.mixed_precision == "bf16"
    assert config.learning_rate == 2e-4  # untouched options keep the defaults
    with pytest.raises(SystemExit):
        parse_config(["--stage", "1", "--data-dir", "d", "--output-dir", "o", "--batch-size", "0"])
    args = build_parser().parse_args(["--stage", "1", "--data-dir", "d", "--output-dir", "o"])
    assert config_from_args(args).max_grad_norm is None


def test_recipe_options_reach_the_config_and_the_model(tmp_path):
    config = parse_config(["--stage", "2", "--data-dir", "d", "--output-dir", str(tmp_path),
                           "--noise-levels", "fast", "--prior", "warp", "--prior-scale", "0.02",
                           "--lr-schedule", "cosine", "--warmup-steps", "10",
                           "--max-steps", "110", "--learning-rate", "1e-3"])
    model = config.denoiser_config()
    assert (model.prior.kind, model.prior.scale, config.noise_levels) == ("warp", 0.02, "fast")
    assert config.prior == model.prior  # one PriorConfig, held whole by both
    rates = [config.learning_rate_at(step) for step in (0, 9, 10, 60, 109)]
    assert rates[0] == pytest.approx(1e-4) and rates[1] == rates[2] == pytest.approx(1e-3)
    assert rates[3] == pytest.approx(5e-4, rel=0.02) and rates[4] < 1e-6
    paper = TrainingConfig(stage=1, data_dir="d", output_dir=tmp_path)
    assert {paper.learning_rate_at(step) for step in (0, 1000, 10**6)} == {2e-4}
