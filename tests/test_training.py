"""Tests of the training package: config, data order, checkpoints, the loop, resumption, export."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from binauralgrad.training import checkpoints as ckpt
from binauralgrad.training.arguments import build_parser, config_from_args, parse_config
from binauralgrad.training.config import TrainingConfig
from binauralgrad.training.data import EpochSampler, SeededRows, TrainingCollator
from binauralgrad.training.ema import ExponentialMovingAverage

pytest.importorskip("accelerate")
pytest.importorskip("datasets")

TINY_RUN = {"model_config": "tiny", "batch_size": 2, "clip_length": 4000, "chunk_length": 8000,
            "hop_length": 4000, "log_every": 1, "num_workers": 0, "progress": False}


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    # Accelerate keeps process-wide singletons; each run in this process starts from scratch.
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def run_config(dataset_dir: Path, output_dir: Path, **overrides) -> TrainingConfig:
    values = {"stage": 1, "data_dir": str(dataset_dir / "trainset"), "output_dir": str(output_dir),
              "max_steps": 2, **TINY_RUN, **overrides}
    return TrainingConfig(**values)


def read_log(output_dir: Path) -> list[dict]:
    lines = (output_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def train_log(output_dir: Path) -> dict[int, dict]:
    return {row["step"]: row for row in read_log(output_dir) if "train/loss" in row}


# --- config and options -------------------------------------------------------------------------

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
    assert (model.prior, model.prior_scale, config.noise_levels) == ("warp", 0.02, "fast")
    rates = [config.learning_rate_at(step) for step in (0, 9, 10, 60, 109)]
    assert rates[0] == pytest.approx(1e-4) and rates[1] == rates[2] == pytest.approx(1e-3)
    assert rates[3] == pytest.approx(5e-4, rel=0.02) and rates[4] < 1e-6
    paper = TrainingConfig(stage=1, data_dir="d", output_dir=tmp_path)
    assert {paper.learning_rate_at(step) for step in (0, 1000, 10**6)} == {2e-4}


def test_fast_noise_levels_draw_only_the_samplers_steps(dataset_dir):
    from binauralgrad.data import load_binaural_dataset
    from binauralgrad.schedule import NoiseSchedule

    rows = SeededRows(load_binaural_dataset(dataset_dir / "trainset", chunk_length=8000,
                                            hop_length=4000))
    levels = NoiseSchedule().fast_timesteps()
    collate = TrainingCollator(4000, out_channels=1, num_train_steps=200, levels=levels)
    drawn = {float(collate([rows[key]])["timesteps"]) for key in EpochSampler(len(rows), 0)}
    assert drawn and all(min(abs(step - level) for level in levels) < 1e-5 for step in drawn)


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
    assert load_denoiser(result.export_dir).config.prior == "warp"
    assert (tmp_path / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


# --- data order ------------------------------------------------------------------------------

def test_sampler_order_depends_on_seed_and_epoch_only():
    first, second = EpochSampler(10, seed=3), EpochSampler(10, seed=3)
    assert list(first) == list(second)
    second.set_epoch(1)
    assert list(first) != list(second)
    assert sorted(row for row, _ in second) == list(range(10))


def test_items_do_not_depend_on_how_the_batch_is_split(dataset_dir):
    from binauralgrad.data import load_binaural_dataset

    rows = SeededRows(load_binaural_dataset(dataset_dir / "trainset", chunk_length=8000,
                                            hop_length=4000))
    keys = list(EpochSampler(len(rows), seed=0))[:2]
    collate = TrainingCollator(4000, out_channels=2, num_train_steps=200)
    whole = collate([rows[key] for key in keys])
    halves = [collate([rows[key]]) for key in keys]
    for name, value in whole.items():
        assert torch.equal(value, torch.cat([half[name] for half in halves])), name
    assert whole["noise"].shape == (2, 2, 4000) and whole["positions"].shape == (2, 7, 10)


# --- checkpoints -----------------------------------------------------------------------------

class FakeAccelerator:
    is_main_process = True

    def __init__(self, fail: bool = False):
        self.fail = fail

    def wait_for_everyone(self):
        pass

    def save_state(self, folder):
        Path(folder, "model.safetensors").write_bytes(b"weights")
        if self.fail:
            raise RuntimeError("disk full")


def test_checkpoints_rotate_and_latest_names_the_newest(tmp_path):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(FakeAccelerator(), tmp_path, ckpt.TrainerState(step=step), keep=2)
    root = tmp_path / ckpt.CHECKPOINTS
    assert [path.name for path in ckpt.list_checkpoints(root)] == ["step_0000002", "step_0000003"]
    assert (root / ckpt.LATEST).read_text().strip() == "step_0000003"
    assert ckpt.resolve_resume(tmp_path, "latest") == root / "step_0000003"
    assert ckpt.TrainerState.read(root / "step_0000003").step == 3


def test_a_failed_save_leaves_the_previous_checkpoint_latest(tmp_path):
    ckpt.save_checkpoint(FakeAccelerator(), tmp_path, ckpt.TrainerState(step=1), keep=3)
    with pytest.raises(RuntimeError):
        ckpt.save_checkpoint(FakeAccelerator(fail=True), tmp_path, ckpt.TrainerState(step=2), 3)
    root = tmp_path / ckpt.CHECKPOINTS
    assert ckpt.latest_checkpoint(root) == root / "step_0000001"
    assert not (root / "step_0000002").exists()
    (root / ckpt.LATEST).unlink()  # even without the pointer, only complete folders count
    assert ckpt.resolve_resume(tmp_path, "latest") == root / "step_0000001"


def test_resume_refuses_missing_and_incomplete_folders(tmp_path):
    assert ckpt.resolve_resume(tmp_path, None) is None
    assert ckpt.resolve_resume(tmp_path, "latest") is None  # nothing yet: a fresh start
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        ckpt.resolve_resume(tmp_path, str(tmp_path / "nope"))
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        ckpt.resolve_resume(tmp_path, str(tmp_path / "half"))


def test_ema_averages_and_round_trips():
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.5)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)  # warm-up: the first update uses decay 1/10, not 0.5
    assert torch.allclose(ema.shadow["weight"], start + 2.0 * 0.9)
    for _ in range(20):
        ema.update(model)  # (1 + n) / (10 + n) has passed 0.5: the decay is now 0.5
    assert torch.allclose(ema.shadow["weight"], start + 2.0, atol=1e-5)
    other = ExponentialMovingAverage(torch.nn.Linear(2, 1), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.5 and torch.equal(other.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(ValueError, match="decay"):
        ExponentialMovingAverage(model, decay=1.5)


def test_ema_saves_and_loads_safetensors(tmp_path):
    model = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(model, decay=0.75)
    ema.update(model)
    ema.save(tmp_path)
    other = ExponentialMovingAverage(torch.nn.Linear(2, 1), decay=0.1)
    other.load(tmp_path)
    assert (other.decay, other.num_updates) == (0.75, 1)
    assert all(torch.equal(other.shadow[name], ema.shadow[name]) for name in ema.shadow)
    with pytest.raises(FileNotFoundError, match="without EMA"):
        other.load(tmp_path / "absent")


# --- the loop --------------------------------------------------------------------------------

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


# --- export, assembly, hub, throughput --------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[int, Path]:
    from binauralgrad import DenoiserConfig
    from binauralgrad.models.denoiser import BinauralDenoiser
    from binauralgrad.training.config import TINY_SIZES
    from binauralgrad.training.export import export_denoiser

    root = tmp_path_factory.mktemp("exported")
    presets = {1: DenoiserConfig.stage_one, 2: DenoiserConfig.stage_two}
    recipe = {"model_config": "tiny", "max_steps": 7, "prior": "zero", "steps_done": 7}
    return {stage: export_denoiser(BinauralDenoiser(preset(**TINY_SIZES)), root / f"stage{stage}",
                                   training={**recipe, "stage": stage})
            for stage, preset in presets.items()}


def test_cards_state_what_is_known_and_nothing_else(exported, tmp_path):
    from binauralgrad import BinauralGradPipeline
    from binauralgrad.training import assemble_pipeline

    card = (exported[1] / "README.md").read_text()
    assert "More Information Needed" not in card and "pushed to the Hub" not in card
    assert "4 layers x 8 channels" in card and "`max_steps`=7" in card
    results = tmp_path / "results.md"
    results.write_text("| system | Wave L2 |\n|---|---|\n| model | 1.0 |\n")
    folder = assemble_pipeline(exported[1], exported[2], tmp_path / "pipe", info={
        "evaluation": {"setting": "9 held-out scenes", "table": results.read_text()}})
    card = (folder / "README.md").read_text()
    assert "ceil(T / 400)" in card and "9 held-out scenes" in card and "| model | 1.0 |" in card
    assert card.count("`max_steps`=7") == 2
    loaded = BinauralGradPipeline.from_pretrained(folder)
    assert loaded.info["training"]["stage_two"]["stage"] == 2
    again = loaded.save_pretrained(tmp_path / "again")
    assert (again / "README.md").read_text() == card
    assert "`max_steps`=7" in (again / "stage_one" / "README.md").read_text()


def test_assemble_writes_a_loadable_pipeline(exported, tmp_path):
    from binauralgrad import BinauralGradPipeline
    from binauralgrad.cli.train import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["assemble", "--stage-one", str(exported[1]), "--stage-two",
                              str(exported[2]), "--output", str(tmp_path / "pipe"), "--quiet",
                              "--temperature", "0.5"])
    assert args.func(args) == 0
    pipe = BinauralGradPipeline.from_pretrained(tmp_path / "pipe")
    assert pipe.schedule.temperature == 0.5
    out = pipe(torch.zeros(4000), torch.tensor([[1.0, 0, 0, 0, 0, 0, 1]]).repeat(10, 1),
               generator=torch.Generator().manual_seed(0), progress=False)
    assert out.audio.shape == (2, 4000)
    with pytest.raises(FileExistsError):
        args.func(args)


def test_assemble_refuses_swapped_stages(exported, tmp_path):
    from binauralgrad.training import assemble_pipeline

    with pytest.raises(ValueError, match="stage-2 denoiser"):
        assemble_pipeline(exported[2], exported[1], tmp_path / "pipe")


def test_export_uses_ema_weights(tmp_path):
    from binauralgrad.models.denoiser import BinauralDenoiser, DenoiserConfig, load_denoiser
    from binauralgrad.training import export_denoiser

    model = BinauralDenoiser(DenoiserConfig.stage_one(residual_layers=2, residual_channels=4))
    ema = ExponentialMovingAverage(model, decay=0.5)
    start = float(model.output_projection.bias.detach())
    with torch.no_grad():
        model.output_projection.bias.fill_(1.0)
    ema.update(model)
    raw = load_denoiser(export_denoiser(model, tmp_path / "raw"))
    averaged = load_denoiser(export_denoiser(model, tmp_path / "ema", ema))
    assert float(raw.output_projection.bias.detach()) == 1.0
    # The first update's warm-up decay is 1/10: the shadow moves 90 % of the way.
    assert float(averaged.output_projection.bias.detach()) == pytest.approx(0.1 * start + 0.9)


def test_push_to_hub_uploads_the_export(exported, monkeypatch):
    import huggingface_hub

    from binauralgrad.training.export import push_denoiser

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            calls["repo"] = repo_id

        def upload_folder(self, repo_id, folder_path, **kwargs):
            calls["folder"] = folder_path
            return "https://huggingface.co/user/model/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert push_denoiser(exported[1], "user/model").endswith("/commit/1")
    assert calls == {"repo": "user/model", "folder": os.fspath(exported[1])}


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
