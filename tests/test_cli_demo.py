"""`binauralgrad demo` and the embedded default model: the README's main command, end to end."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from binauralgrad import BinauralGradPipeline
from binauralgrad.cli import main
from binauralgrad.constants import DEFAULT_MODEL_DIR
from binauralgrad.io.audio import read_wav


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """One demo run (the embedded model, 1 s) and what it printed."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--output-dir", str(out), "--seconds", "1", "--quiet"]) == 0
    return out, printed.getvalue()


def test_the_embedded_model_loads_and_is_small():
    pipeline = BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    assert pipeline.stage_one.config.residual_layers == 12
    assert pipeline.stage_two.config.use_mean_condition


def test_demo_writes_the_scene_both_syntheses_and_scores_them(demo):
    out, printed = demo
    # The simulated rooms are the simulator's reverberant ones: the model's room for them.
    assert "the embedded default model, room reverberant" in printed
    assert "| BinauralGrad" in printed and "| geometric warp" in printed
    # The embedded default's parts alone, beside it.
    assert "| its learned head alone" in printed and "| its DSP prior alone" in printed
    reference = read_wav(out / "scene" / "binaural.wav", channels=2)
    for name in ("binauralgrad.wav", "geowarp.wav"):
        audio = read_wav(out / name, channels=2)
        assert audio.shape == reference.shape and np.isfinite(audio).all()
    assert (out / "scene.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_never_replaces_a_folder_it_did_not_write(tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert main(["demo", "--output-dir", str(other), "--seconds", "1", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep"
    assert main(["demo", "--output-dir", str(tmp_path / "demo"), "--seconds", "1", "--quiet",
                 "--room", "studio"]) == 2
    assert "unknown room 'studio'; this pipeline's rooms: reverberant" in capsys.readouterr().err


@pytest.mark.slow
def test_the_demo_command_runs_again_as_written(tmp_path):
    # The README's command, run twice: a demo replaces its own earlier output.
    out = tmp_path / "demo"
    for _ in range(2):
        assert main(["demo", "--output-dir", str(out), "--seconds", "1", "--quiet",
                     "--no-plot"]) == 0
    assert read_wav(out / "binauralgrad.wav", channels=2).shape[1] == 48000


def test_synthesize_defaults_to_the_embedded_model(demo, tmp_path):
    scene = demo[0] / "scene"
    assert main(["synthesize", "--mono", str(scene / "mono.wav"), "--positions",
                 str(scene / "tx_positions.txt"), "--output", str(tmp_path / "x.wav"),
                 "--quiet"]) == 0
    assert read_wav(tmp_path / "x.wav", channels=2).shape[1] == 48000
