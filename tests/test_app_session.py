"""The app's shared functions: every kind of bad input gets the command line's clear message, and a
good one gives the three signals, the files and the figures (no gradio needed)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile
from conftest import make_tiny_pipeline, speech_like

from binauralgrad import positions
from binauralgrad.app.paths import PathSettings, rows_for
from binauralgrad.app.session import (
    Rendering,
    channel_choices,
    check_not_silent,
    load_recording,
    model_label,
    new_folder,
    parse_channel,
    render,
    top_view,
    write_results,
)
from binauralgrad.cli import main
from binauralgrad.io.audio import read_wav, write_wav
from binauralgrad.io.positions import read_positions, write_positions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def clip(tmp_path):
    """A 0.25 s speech-like clip at 44.1 kHz, as a FLAC."""
    path = tmp_path / "talk.flac"
    soundfile.write(str(path), speech_like(11025), 44100, subtype="PCM_16")
    return path


def test_a_recording_is_read_and_resampled_as_the_command_line_reads_it(clip):
    mono, file_rate = load_recording(clip, max_seconds=1.0)
    assert file_rate == 44100 and mono.shape == (12000,) and mono.dtype == np.float32
    assert channel_choices(clip) == []


def test_too_long_is_refused_before_reading_with_the_command_line_to_use(clip):
    with pytest.raises(ValueError, match=r"talk.flac lasts 0.2 s, longer than the 0.1 s this "
                                         r"page synthesises; the command line takes any length:"
                                         r"\nbinauralgrad synthesize --mono talk.flac"):
        load_recording(clip, max_seconds=0.1,
                       command="binauralgrad synthesize --mono talk.flac --circle 1.5")


def test_stereo_without_a_choice_asks_for_a_channel_or_a_downmix(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = speech_like(4800), speech_like(4800, seed=1)
    write_wav(path, np.stack([left, right]))
    assert channel_choices(path) == ["1", "2", "downmix"]
    with pytest.raises(ValueError, match=r"2 channels, but the model takes one voice: pick one "
                                         r"with --channel N .* or average them with --downmix"):
        load_recording(path)
    np.testing.assert_array_equal(load_recording(path, **dict(
        zip(("channel", "downmix"), parse_channel("2"), strict=True)))[0], right)
    np.testing.assert_allclose(load_recording(path, downmix=parse_channel("downmix")[1])[0],
                               (left + right) / 2, atol=1e-7)
    assert parse_channel(None) == (None, False)


def test_an_unreadable_file_is_named(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_bytes(b"this is not audio")
    with pytest.raises(ValueError, match="notes.wav: not a readable audio file"):
        load_recording(path)
    with pytest.raises(ValueError, match="not a readable audio file"):
        channel_choices(path)
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        load_recording(tmp_path / "missing.wav")


def test_silence_is_refused(tmp_path):
    path = tmp_path / "silence.wav"
    write_wav(path, np.zeros((1, 4800), dtype=np.float32))
    with pytest.raises(ValueError, match=r"silence.wav: the recording is silent \(all zeros, "
                                         r"below -80 dBFS\): there is no voice to place"):
        load_recording(path)
    with pytest.raises(ValueError, match=r"its peak is -100 dBFS"):
        check_not_silent(np.full(10, 1e-5, dtype=np.float32), "hum.wav")
    check_not_silent(np.full(10, 1e-3, dtype=np.float32), "quiet.wav")  # -60 dBFS is a voice


def test_nan_is_refused(tmp_path):
    path = tmp_path / "nan.wav"
    audio = speech_like(4800)[None]
    audio[0, 100] = np.nan
    soundfile.write(str(path), audio.T, 48000, subtype="FLOAT")
    with pytest.raises(ValueError, match="nan.wav: audio contains NaN or inf"):
        load_recording(path)


def test_a_path_that_does_not_cover_the_audio_is_refused(tmp_path):
    rows_file = tmp_path / "tx_positions.txt"
    write_positions(rows_file, positions.static(4000))  # 10 rows: 0.083 s
    with pytest.raises(ValueError, match=r"tx_positions.txt: positions has 10 rows, but 4800 "
                                         r"samples at 48 kHz need ceil\(4800 / 400\) = 12 rows"):
        rows_for(PathSettings(kind="file", file=rows_file), 4800)
    walk = PathSettings(kind="line", start=(1, -1), end=(1, 1), speed_m_s=100)
    with pytest.raises(ValueError, match="lower the speed to at most"):
        rows_for(walk, 48000)
    short = tmp_path / "walk.json"
    short.write_text('{"times_s": [0, 0.5], "positions": [[1, -1], [1, 1]]}')
    with pytest.raises(ValueError, match="the path ends at 0.5 s, but the audio lasts 1.000 s"):
        rows_for(PathSettings(kind="file", file=short), 48000)


@pytest.mark.parametrize("content, message", [
    ("1 2 3\n", "rows of 3 values, expected 7"),
    ("1 0 0 0 0 0 one\n", "not a table of numbers"),
    ("1 0 0 0 0 0 1\nnan 0 0 0 0 0 1\n", r"NaN or inf in positions \(row 1\)"),
])
def test_a_bad_positions_file_is_named(tmp_path, content, message):
    bad = tmp_path / "rows.txt"
    bad.write_text(content)
    with pytest.raises(ValueError, match=f"rows.txt: {message}"):
        rows_for(PathSettings(kind="file", file=bad), 800)


def test_a_bad_path_file_or_none_is_named(tmp_path):
    bad = tmp_path / "walk.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="walk.json: not a JSON file"):
        rows_for(PathSettings(kind="file", file=bad), 800)
    with pytest.raises(ValueError, match="no positions file: upload a tracking file"):
        PathSettings(kind="file")


def test_the_command_line_refuses_silence_too(tmp_path, capsys):
    write_wav(tmp_path / "silence.wav", np.zeros((1, 4800), dtype=np.float32))
    assert main(["synthesize", "--mono", str(tmp_path / "silence.wav"), "--output",
                 str(tmp_path / "out.wav"), "--circle", "1.5", "--quiet"]) == 2
    assert "the recording is silent" in capsys.readouterr().err


def test_render_writes_the_three_signals_the_rows_and_the_figure(tmp_path):
    mono = speech_like(4800)
    rows = rows_for(PathSettings(kind="circle", period_s=2), len(mono))
    rendering = render(make_tiny_pipeline(), mono, rows, seed=1, progress=False)
    assert rendering.binaural.shape == rendering.warped.shape == (2, 4800)
    again = render(make_tiny_pipeline(), mono, rows, seed=1, progress=False)
    np.testing.assert_array_equal(rendering.binaural, again.binaural)  # the seed decides
    results = write_results(rendering, tmp_path, name="talk", title="talk")
    assert read_wav(results.binaural, channels=2).shape == (2, 4800)
    assert read_wav(results.baseline, channels=2).shape == (2, 4800)
    assert read_wav(results.mono, channels=1).shape == (1, 4800)
    np.testing.assert_array_equal(read_positions(results.positions), rows)
    assert results.figure.read_bytes().startswith(PNG_SIGNATURE)
    assert {path.name for path in tmp_path.iterdir()} == {
        "talk_binaural.wav", "talk_dsp_baseline.wav", "talk_mono_48k.wav",
        "talk_binaural.positions.txt", "talk_cues.png"}


def test_a_loud_output_is_scaled_into_range_and_the_gain_reported(tmp_path):
    loud = Rendering(mono=speech_like(800), rows=positions.static(800),
                     binaural=np.full((2, 800), 2.0, np.float32),
                     warped=np.full((2, 800), 0.5, np.float32))
    results = write_results(loud, tmp_path)
    assert results.gain_db == pytest.approx(20 * np.log10(0.99 / 2.0))
    assert np.abs(read_wav(results.binaural)).max() == pytest.approx(0.99)
    assert results.figure is None  # 17 ms: shorter than one frame of the cues


def test_top_view_and_labels():
    figure = top_view(positions.circle(48000, radius_m=1.0), title="circle")
    assert figure.axes[0].get_title() == "circle"
    assert model_label(str(positions.__file__)) == str(positions.__file__)
    from binauralgrad.constants import LIVE_MODEL_DIR

    assert model_label(LIVE_MODEL_DIR) == f"the embedded live model ({LIVE_MODEL_DIR})"


def test_new_folders_are_fresh_and_old_ones_are_pruned(tmp_path):
    first = new_folder(tmp_path)
    (first / "out.wav").write_bytes(b"x")
    old = time.time() - 7200
    os.utime(first, (old, old))
    second = new_folder(tmp_path, keep_s=3600)
    assert second != first and second.is_dir() and not first.exists()
