"""`binauralgrad synthesize`: recordings as people have them, paths described on the command line,
real files out, and the refusals."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile
from conftest import make_tiny_pipeline, speech_like, static_positions

from binauralgrad import positions
from binauralgrad.cli import main
from binauralgrad.cli.synthesize import fit_level
from binauralgrad.io.audio import read_wav, write_wav
from binauralgrad.io.positions import read_positions, write_positions


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
    assert "no such audio file" in capsys.readouterr().err
    write_wav(inputs / "mono.wav", speech_like(2400)[None])
    assert run(inputs) == 2
    assert "positions has 4 rows" in capsys.readouterr().err
    # A 16 kHz file is resampled: 1600 samples become 4800 at 48 kHz, which need 12 rows.
    write_wav(inputs / "mono.wav", speech_like(1600)[None], sample_rate=16000, overwrite=True)
    assert run(inputs) == 2
    assert "positions has 4 rows, but 4800 samples at 48 kHz need" in capsys.readouterr().err


def test_chunked_and_budgeted_runs_give_the_same_audio(inputs, capsys):
    # The tiny model's receptive field lies well inside the default overlap: chunks are exact.
    assert run(inputs) == 0
    whole = read_wav(inputs / "out.wav", channels=2)
    assert run(inputs, "--chunk-seconds", "0.01", "--max-memory-mb", "64", "--overwrite") == 0
    np.testing.assert_array_equal(whole, read_wav(inputs / "out.wav", channels=2))
    assert run(inputs, "--chunk-seconds", "0.01", "--max-memory-mb", "0.0001",
               "--overwrite") == 2
    assert "below the least" in capsys.readouterr().err


def described(folder, mono: str, *extra) -> int:
    return main(["synthesize", "--model", str(folder / "model"), "--mono", str(folder / mono),
                 "--output", str(folder / "out.wav"), "--quiet", *extra])


def test_a_44k_flac_walked_round_in_a_circle(inputs, capsys):
    recording = speech_like(11025)  # 0.25 s at 44.1 kHz
    soundfile.write(str(inputs / "talk.flac"), recording, 44100, subtype="PCM_16")
    assert described(inputs, "talk.flac", "--circle", "1.5", "--period", "8") == 0
    printed = capsys.readouterr().out
    assert "model: " in printed and "path: Circle(radius_m=1.5, period_s=8.0" in printed
    assert "resampled from 44100 Hz" in printed
    binaural = read_wav(inputs / "out.wav", channels=2)
    assert binaural.shape == (2, 12000) and np.isfinite(binaural).all()
    rows = read_positions(inputs / "out.positions.txt")
    np.testing.assert_array_equal(rows, positions.circle(12000, radius_m=1.5, period_s=8))


def test_standing_lines_and_path_files(inputs, capsys):
    cases = {
        ("--azimuth", "-90", "--distance", "2"): positions.static(1600, azimuth_deg=-90,
                                                                   distance_m=2),
        ("--line", "-2,-3", "-2,3", "--facing", "listener"):  # negative coordinates parse
            positions.line(1600, start=(-2, -3), end=(-2, 3), facing="listener"),
    }
    path = {"times_s": [0, 1], "positions": [[1, -0.5], [1, 0.5]], "interpolation": "linear"}
    (inputs / "walk.json").write_text(json.dumps(path))
    cases[("--path", str(inputs / "walk.json"))] = positions.waypoints(1600, **path)
    for options, expected in cases.items():
        assert described(inputs, "mono.wav", *options, "--overwrite") == 0, options
        np.testing.assert_array_equal(read_positions(inputs / "out.positions.txt"), expected)
    assert "2 waypoints over 0 .. 1 s (linear) from" in capsys.readouterr().out


def test_without_positions_the_error_lists_the_ways_to_give_them(inputs, capsys):
    assert described(inputs, "mono.wav") == 2
    error = capsys.readouterr().err
    for option in ("--positions", "--azimuth DEG", "--circle RADIUS", "--line X0,Y0 X1,Y1",
                   "--path waypoints.json"):
        assert option in error
    assert not (inputs / "out.wav").exists()


@pytest.mark.parametrize("options, message", [
    (("--circle", "1", "--azimuth", "30"), "--azimuth and --circle describe different paths"),
    (("--azimuth", "30", "--period", "4"), "--period goes with --circle, not with --azimuth"),
    (("--path", "x.json", "--speed", "1"), "--speed goes with --circle or --line, not with --path"),
    (("--distance", "0"), "distance_m must be > 0"),
    (("--circle", "0.1"), "within 0.2 m of the listener"),
    (("--line", "1,-1", "1,1", "--speed", "100"), "lower the speed to at most"),
    (("--path", "missing.json"), "no such path file"),
    (("--circle", "1", "--output-rate", "0"), "--output-rate must be a positive"),
])
def test_bad_descriptions_fail_before_anything_is_written(inputs, capsys, options, message):
    assert described(inputs, "mono.wav", *options) == 2
    assert message in capsys.readouterr().err
    assert not (inputs / "out.wav").exists() and not (inputs / "out.positions.txt").exists()


def test_a_malformed_point_is_a_usage_error(inputs, capsys):
    with pytest.raises(SystemExit):
        described(inputs, "mono.wav", "--line", "1;2", "3,4")
    assert "expected X,Y or X,Y,Z in metres, got '1;2'" in capsys.readouterr().err


def test_stereo_needs_a_channel_or_a_downmix(inputs, capsys):
    stereo = np.stack([speech_like(1600), speech_like(1600, seed=1)])
    write_wav(inputs / "stereo.wav", stereo)
    assert described(inputs, "stereo.wav", "--azimuth", "45") == 2
    error = capsys.readouterr().err
    assert "2 channels" in error and "--channel N" in error and "--downmix" in error
    assert described(inputs, "stereo.wav", "--azimuth", "45", "--channel", "2") == 0
    assert described(inputs, "stereo.wav", "--azimuth", "45", "--downmix", "--overwrite") == 0


def test_output_rate_format_and_kept_files(inputs, capsys):
    out = ["--output", str(inputs / "out.flac")]
    assert described(inputs, "mono.wav", "--azimuth", "0", "--output-rate", "44100", *out) == 0
    info = soundfile.info(str(inputs / "out.flac"))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 1470)
    assert (inputs / "out.positions.txt").is_file()
    (inputs / "out.flac").unlink()
    assert described(inputs, "mono.wav", "--azimuth", "0", *out) == 2  # the rows file is kept
    assert "out.positions.txt exists; pass --overwrite" in capsys.readouterr().err
    assert described(inputs, "mono.wav", "--azimuth", "0", "--output",
                     str(inputs / "out.mp3")) == 2
    assert "use one of .wav, .flac, .ogg" in capsys.readouterr().err


def test_clipping_is_prevented_or_reported(tmp_path, capsys):
    loud = np.array([[0.5, -2.0], [1.5, 0.1]], dtype=np.float32)
    args = argparse.Namespace(keep_level=False, output=tmp_path / "out.wav")
    scaled = fit_level(loud, args)
    assert np.abs(scaled).max() == pytest.approx(0.99)
    assert "peaks at 2.000 (+6.0 dBFS): scaled by -6.1 dB" in capsys.readouterr().out
    np.testing.assert_array_equal(fit_level(loud / 4, args), loud / 4)
    assert capsys.readouterr().out == ""  # within full scale: untouched, nothing to say
    args.keep_level = True
    assert fit_level(loud, args) is loud
    assert "2 samples over full scale are kept as float values" in capsys.readouterr().err
    args.output = tmp_path / "out.flac"
    fit_level(loud, args)
    assert "clipped in the file" in capsys.readouterr().err


def test_the_commands_output_suffixes_are_the_writers_formats():
    from binauralgrad.cli.synthesize import OUTPUT_SUFFIXES
    from binauralgrad.io.audio import OUTPUT_FORMATS

    assert set(OUTPUT_SUFFIXES) == set(OUTPUT_FORMATS)
