"""`binauralgrad demo` and the embedded default model: the README's main command, end to end."""

from __future__ import annotations

import numpy as np

from binauralgrad import BinauralGradPipeline
from binauralgrad.cli import main
from binauralgrad.constants import DEFAULT_MODEL_DIR
from binauralgrad.io.audio import read_wav


def test_the_embedded_model_loads_and_is_small():
    pipeline = BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    assert pipeline.stage_one.config.residual_layers == 12
    assert pipeline.stage_two.config.use_mean_condition


def test_demo_writes_the_scene_both_syntheses_and_scores_them(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--seconds", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "the embedded default model" in printed
    assert "| BinauralGrad" in printed and "| geometric warp" in printed
    reference = read_wav(out / "scene" / "binaural.wav", channels=2)
    for name in ("binauralgrad.wav", "geowarp.wav"):
        audio = read_wav(out / name, channels=2)
        assert audio.shape == reference.shape and np.isfinite(audio).all()
    assert (out / "scene.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The README's command runs again as written: a demo replaces its own earlier output...
    assert main(["demo", "--output-dir", str(out), "--seconds", "1", "--quiet"]) == 0
    # ...but never a folder it did not write.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert main(["demo", "--output-dir", str(other), "--seconds", "1", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep"


def test_synthesize_defaults_to_the_embedded_model(tmp_path):
    out = tmp_path / "demo"
    main(["demo", "--output-dir", str(out), "--seconds", "1", "--quiet", "--no-plot"])
    scene = out / "scene"
    assert main(["synthesize", "--mono", str(scene / "mono.wav"), "--positions",
                 str(scene / "tx_positions.txt"), "--output", str(tmp_path / "x.wav"),
                 "--quiet"]) == 0
    assert read_wav(tmp_path / "x.wav", channels=2).shape[1] == 48000
