"""Shared test helpers: fixture paths, tiny models and the original's small checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests never reach the Hub; set before huggingface_hub is imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the app's tests: nothing leaves
# The fast path's built-in choices (no per-machine measurement, nothing written under ~/.cache);
# tests/test_inference_tuning.py measures in a temporary folder.
os.environ.setdefault("BINAURALGRAD_TUNING", "off")

FIXTURES = Path(__file__).parent / "fixtures"
TINY = {"residual_layers": 4, "residual_channels": 8, "dilation_cycle_length": 2}


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def load_npz(name: str) -> dict[str, torch.Tensor]:
    with np.load(FIXTURES / name) as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


def randomize(module: torch.nn.Module, seed: int, scale: float = 0.2) -> torch.nn.Module:
    """Gives every weight a random value (the zero-initialised output would hide bugs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return module


def make_tiny_pipeline(seed: int = 0):
    from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig

    stage_one = randomize(BinauralDenoiser(DenoiserConfig.stage_one(**TINY)), seed)
    stage_two = randomize(BinauralDenoiser(DenoiserConfig.stage_two(**TINY)), seed + 1)
    return BinauralGradPipeline(stage_one, stage_two)


@pytest.fixture
def tiny_pipeline():
    return make_tiny_pipeline()


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    """A tiny simulated data set (one 3 s subject per split, plus the validation sequence)."""
    from binauralgrad.data.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_dataset(root, train_minutes=0.05, test_minutes=0.05, sequences=1, seed=0,
                           progress=False)
    return root


@pytest.fixture(scope="session")
def original_denoisers():
    from binauralgrad.io.original import load_original_denoiser

    return {stage: load_original_denoiser(FIXTURES / f"original_stage_{name}_small.pt", stage)[0]
            for stage, name in ((1, "one"), (2, "two"))}


def speech_like(length: int, seed: int = 0) -> np.ndarray:
    """A cheap voiced-ish test signal: a few harmonics under a syllable envelope, plus noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(length) / 48000
    pitch = 120 + 20 * np.sin(2 * np.pi * 1.5 * time)
    phase = 2 * np.pi * np.cumsum(pitch) / 48000
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * time))
    return (0.1 * voiced * envelope + 0.005 * rng.standard_normal(length)).astype(np.float32)


def static_positions(frames: int, xyz=(1.0, 0.5, 0.0)) -> np.ndarray:
    """(frames, 7) rows of a talker standing still and facing forward."""
    return np.tile(np.array([*xyz, 0.0, 0.0, 0.0, 1.0], dtype=np.float32), (frames, 1))


def moving_positions(frames: int) -> np.ndarray:
    """(frames, 7) rows of a talker walking past: the warp changes over time."""
    positions = static_positions(frames)
    positions[:, 0] += np.linspace(0.0, 1.5, frames)
    positions[:, 1] -= np.linspace(0.0, 1.0, frames)
    return positions


def synthesize_moving(pipeline, length: int, seed: int = 0, **options):
    """The pipeline's output for `length` samples of speech-like audio from a walking talker."""
    mono, positions = speech_like(length, seed), moving_positions(-(-length // 400))
    return pipeline(mono, positions, generator=torch.Generator().manual_seed(seed),
                    progress=False, **options)


@pytest.fixture(scope="module")
def tiny():
    """A tiny random pipeline shared by a module's tests."""
    return make_tiny_pipeline(3)


@pytest.fixture(scope="module")
def unchunked(tiny):
    """The tiny pipeline's default (wavefront) output for 6000 samples of a walking talker."""
    return synthesize_moving(tiny, 6000)


# A training run small enough for a test: the tiny model on the tiny data set.
TINY_RUN = {"model_config": "tiny", "batch_size": 2, "clip_length": 4000, "chunk_length": 8000,
            "hop_length": 4000, "log_every": 1, "num_workers": 0, "progress": False}


@pytest.fixture
def fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; each run in this process starts from scratch."""
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def run_config(dataset_dir: Path, output_dir: Path, **overrides):
    """A TrainingConfig of a tiny run on `dataset_dir`'s training split."""
    from binauralgrad.training.config import TrainingConfig

    values = {"stage": 1, "data_dir": str(dataset_dir / "trainset"), "output_dir": str(output_dir),
              "max_steps": 2, **TINY_RUN, **overrides}
    return TrainingConfig(**values)


def read_log(output_dir: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl."""
    lines = (output_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def train_log(output_dir: Path) -> dict[int, dict]:
    """A run's logged training rows by step."""
    return {row["step"]: row for row in read_log(output_dir) if "train/loss" in row}
