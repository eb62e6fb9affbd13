"""The Accelerate loop: resumption, logs, NaN and SIGTERM, accumulation, precision, trackers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from conftest import read_log, run_config, train_log
from safetensors.torch import load_file

from binauralgrad.training import checkpoints as ckpt

pytest.importorskip("accelerate")
pytest.importorskip("datasets")

pytestmark = pytest.mark.usefixtures("fresh_accelerate_state")


def test_a_warp_prior_run_trains_and_validates(dataset_dir, tmp_path):
    from binauralgrad.models.denoiser import load_denoiser
    from binauralgrad.training import train

    result = train(run_config(dataset_dir, tmp_path, stage=2, max_steps=2, validate_every=2,
                              validation_dir=str(dataset_dir / "testset"), validation_clips=1,
                              validation_clip_length=4000, noise_levels="fast", prior="warp",
                              prior_scale=0.02, warmup_steps=1, lr_schedule="cosine"))
    assert all(torch.isfinite(torch.tensor(value)) for value in result.losses.values())
    assert [row for row in read_log(tmp_path) if "eval/wave_l2" in row]
    assert [row for row in read_log(tmp_path) if "eval_dsp/mrstft" in row]  # the baseline, once
    assert load_denoiser(result.export_dir).config.prior.kind == "warp"
    assert (tmp_path / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("stage", [1, 2])
def test_resumed_run_continues_exactly(dataset_dir, tmp_path, stage):
    from binauralgrad.training import train

    train(run_config(dataset_dir, tmp_path / "whole", stage=stage, max_steps=3, ema_decay=0.9))
    first = train(run_config(dataset_dir, tmp_path / "split", stage=stage, max_steps=2,
                             ema_decay=0.9))
    assert first.step == 2 and first.checkpoint.name == "step_0000002"
    assert all(torch.isfinite(torch.tensor(value)) for value in first.losses.values())
    resumed = train(run_config(dataset_dir, tmp_path / "split", stage=stage, max_steps=3,
                               ema_decay=0.9, resume="latest"))
    assert resumed.step == 3
    assert train_log(tmp_path / "split")[3] | {"train/steps_per_s": 0, "train/samples_per_s": 0} \
        == train_log(tmp_path / "whole")[3] | {"train/steps_per_s": 0, "train/samples_per_s": 0}
    checkpoint = tmp_path / "split" / "checkpoints" / "step_0000003"
    assert (checkpoint / "ema.safetensors").is_file()  # restored above, without unpickling
    assert not list(checkpoint.glob("custom_checkpoint_*"))
    for folder in ("denoiser", "checkpoints/step_0000003"):
        weights = load_file(tmp_path / "whole" / folder / "model.safetensors")
        again = load_file(tmp_path / "split" / folder / "model.safetensors")
        assert all(torch.equal(weights[name], again[name]) for name in weights), folder


def test_run_logs_every_term_and_exports_a_denoiser(dataset_dir, tmp_path):
    from binauralgrad.models.denoiser import load_denoiser
    from binauralgrad.training import train

    result = train(run_config(dataset_dir, tmp_path, stage=2, max_steps=2, validate_every=2,
                              validation_dir=str(dataset_dir / "testset"), validation_clips=2,
                              validation_clip_length=4000, checkpoint_every=1,
                              keep_checkpoints=1))
    keys = {"train/loss", "train/mse_main", "train/mse_aux", "train/phase_aux", "train/grad_norm",
            "train/lr", "train/steps_per_s", "train/samples_per_s"}
    assert keys <= set(train_log(tmp_path)[2])
    evaluation = [row for row in read_log(tmp_path) if "eval/wave_l2" in row]
    assert evaluation[0]["step"] == 2
    assert {"eval/amplitude_l2", "eval/phase_l2", "eval/mrstft"} <= set(evaluation[0])
    assert [path.name for path in ckpt.list_checkpoints(tmp_path / "checkpoints")] == \
        ["step_0000002"]
    denoiser = load_denoiser(result.export_dir)
    assert denoiser.config.out_channels == 2 and denoiser.config.residual_channels == 8
    assert json.loads((tmp_path / "training_config.json").read_text())["stage"] == 2


def test_a_folder_with_checkpoints_needs_resume(dataset_dir, tmp_path):
    from binauralgrad.training import train

    train(run_config(dataset_dir, tmp_path, max_steps=1))
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(reset_partial_state=True)
    with pytest.raises(FileExistsError, match="--resume latest"):
        train(run_config(dataset_dir, tmp_path, max_steps=2))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(dataset_dir, tmp_path,
                                                                  monkeypatch):
    from binauralgrad.training import NonFiniteLossError, loop, train

    real_loss, calls = loop.diffusion_loss, []

    def poisoned(*args, **kwargs):
        terms = real_loss(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(loop, "diffusion_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="step 3") as error:
        train(run_config(dataset_dir, tmp_path, max_steps=5, checkpoint_every=2))
    assert "step_0000002" in str(error.value)
    root = tmp_path / ckpt.CHECKPOINTS
    assert ckpt.latest_checkpoint(root) == root / "step_0000002"
    assert [path.name for path in ckpt.list_checkpoints(root)] == ["step_0000002"]


def test_sigterm_finishes_the_step_and_checkpoints(dataset_dir, tmp_path, monkeypatch):
    from binauralgrad.training import loop, train

    real_loss, calls = loop.diffusion_loss, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(loop, "diffusion_loss", interrupted)
    result = train(run_config(dataset_dir, tmp_path, max_steps=50, checkpoint_every=100))
    assert result.stopped_by_signal and result.step == 2
    assert ckpt.latest_checkpoint(tmp_path / ckpt.CHECKPOINTS).name == "step_0000002"
    assert (tmp_path / "denoiser" / "model.safetensors").is_file()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is given back


def test_gradient_accumulation_and_a_batch_that_does_not_split(dataset_dir, tmp_path):
    from binauralgrad.training import train

    result = train(run_config(dataset_dir, tmp_path, batch_size=4, max_steps=1,
                              gradient_accumulation_steps=2))
    assert result.step == 1 and torch.isfinite(torch.tensor(result.losses["train/loss"]))
    with pytest.raises(ValueError, match="fewer than one micro-batch"):
        train(run_config(dataset_dir, tmp_path / "big", batch_size=400))


def test_bf16_autocast_gives_finite_losses(dataset_dir, tmp_path):
    from binauralgrad.training import train

    result = train(run_config(dataset_dir, tmp_path, stage=2, max_steps=1,
                              mixed_precision="bf16"))
    assert all(torch.isfinite(torch.tensor(value)) for value in result.losses.values())


def test_tensorboard_tracker_writes_events(dataset_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from binauralgrad.training import train

    train(run_config(dataset_dir, tmp_path, max_steps=1, log_with=["tensorboard"]))
    assert list(tmp_path.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("name,processes,machines,precision", [
    ("cpu", 1, 1, "no"), ("single_gpu", 1, 1, "bf16"), ("multi_gpu", 8, 1, "fp16"),
    ("multi_node", 16, 2, "fp16"),
])
def test_accelerate_configs_load(name, processes, machines, precision):
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(__file__).parents[1] / "accelerate_configs" / f"{name}.yaml"
    config = load_config_from_file(str(path))
    assert (config.num_processes, config.num_machines, config.mixed_precision) == \
        (processes, machines, precision)
    assert 48 % config.num_processes == 0  # the paper's global batch splits evenly


# A script in fresh processes: test_examples keeps one example in the default suite.
@pytest.mark.slow
def test_examples_train_py_runs_the_readme_command(dataset_dir, tmp_path):
    import subprocess
    import sys

    script = Path(__file__).parents[1] / "examples" / "train.py"
    command = [sys.executable, str(script), "--stage", "1", "--data-dir",
               str(dataset_dir / "trainset"), "--output-dir", str(tmp_path / "run"),
               "--model-config", "tiny", "--batch-size", "2", "--clip-length", "4000",
               "--chunk-length", "8000", "--hop-length", "4000", "--max-steps", "1",
               "--num-workers", "0", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "denoiser exported to" in done.stdout
    assert (tmp_path / "run" / "denoiser" / "model.safetensors").is_file()
    bad = subprocess.run([*command, "--batch-size", "0"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "batch_size" in bad.stderr
