"""`binauralgrad synthesize`: real WAV in, real WAV out, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_tiny_pipeline, speech_like, static_positions

from binauralgrad.audio_io import read_wav, write_positions, write_wav
from binauralgrad.cli import main


@pytest.fixture
def inputs(tmp_path):
    write_wav(tmp_path / "mono.wav", speech_like(1600)[None])
    write_positions(tmp_path / "tx_positions.txt", static_positions(4))
    make_tiny_pipeline().save_pretrained(tmp_path / "model")
    return tmp_path


def run(folder, *extra) -> int:
    return main(["synthesize", "--model", str(folder / "model"), "--mono", str(folder / "mono.wav"),
                 "--positions", str(folder / "tx_positions.txt"), "--output",
                 str(folder / "out.wav"), "--quiet", *extra])


def test_writes_binaural_wav_and_is_deterministic(inputs, capsys):
    assert run(inputs, "--seed", "3") == 0
    first = read_wav(inputs / "out.wav", channels=2)
    assert first.shape == (2, 1600) and np.isfinite(first).all()
    assert run(inputs, "--seed", "3", "--overwrite") == 0
    np.testing.assert_array_equal(first, read_wav(inputs / "out.wav", channels=2))


def test_refuses_to_overwrite(inputs, capsys):
    (inputs / "out.wav").write_bytes(b"keep me")
    assert run(inputs) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (inputs / "out.wav").read_bytes() == b"keep me"


def test_missing_and_mismatched_inputs(inputs, capsys):
    (inputs / "mono.wav").unlink()
    assert run(inputs) == 2
    assert "no such file" in capsys.readouterr().err
    write_wav(inputs / "mono.wav", speech_like(2400)[None])
    assert run(inputs) == 2
    assert "positions has 4 rows" in capsys.readouterr().err
    write_wav(inputs / "mono.wav", speech_like(1600)[None], sample_rate=16000, overwrite=True)
    assert run(inputs) == 2
    assert "sample rate 16000 Hz, expected 48000 Hz" in capsys.readouterr().err


def test_chunked_and_budgeted_runs_give_the_same_audio(inputs, capsys):
    # The tiny model's receptive field lies well inside the default overlap: chunks are exact.
    assert run(inputs) == 0
    whole = read_wav(inputs / "out.wav", channels=2)
    assert run(inputs, "--chunk-seconds", "0.01", "--max-memory-mb", "64", "--overwrite") == 0
    np.testing.assert_array_equal(whole, read_wav(inputs / "out.wav", channels=2))
    assert run(inputs, "--chunk-seconds", "0.01", "--max-memory-mb", "0.0001",
               "--overwrite") == 2
    assert "below the least" in capsys.readouterr().err
