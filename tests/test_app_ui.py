"""The page's handlers called as Gradio calls them: bad input becomes a message in the page, good
input the players' files (needs the `app` extra; the browser test drives the real page)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from conftest import make_tiny_pipeline, speech_like

pytest.importorskip("gradio", reason='the app extra is not installed: pip install -e ".[app]"')

from binauralgrad.app.ui import Page, on_recording, redraw, synthesise  # noqa: E402
from binauralgrad.io.audio import read_wav, write_wav  # noqa: E402

# The path controls' values in `settings_from`'s order: a 1.5 m circle, 2 s a lap.
CIRCLE = ["circle", 45.0, 0.0, 1.5, 1.5, 2.0, "clockwise", 2.0, -3.0, 2.0, 3.0, 0, None]


@pytest.fixture
def page(tmp_path):
    make_tiny_pipeline().save_pretrained(tmp_path / "tiny")
    (tmp_path / "results").mkdir()
    return Page(models={"tiny": str(tmp_path / "tiny")}, workspace=tmp_path / "results",
                max_seconds=1.0)


def test_a_clip_gives_three_players_downloads_a_figure_and_its_command_line(page, tmp_path):
    clip = tmp_path / "talk.wav"
    soundfile.write(str(clip), speech_like(8000), 16000)  # 0.5 s at 16 kHz
    binaural, baseline, mono, downloads, figure, status, command = synthesise(
        page, str(clip), None, "tiny", 3, *CIRCLE)
    assert status.startswith("Done: 0.50 s, walking a circle of 1.5 m, 2 s a lap")
    assert read_wav(binaural, channels=2).shape == read_wav(baseline, channels=2).shape \
        == (2, 24000)
    assert read_wav(mono, channels=1).shape == (1, 24000)
    assert [name.rsplit("/", 1)[1] for name in downloads] == [
        "talk_binaural.wav", "talk_binaural.positions.txt"]
    assert figure.endswith("talk_cues.png")
    assert command.startswith(f"binauralgrad synthesize --model {page.models['tiny']} --mono "
                              "talk.wav --output talk_binaural.wav --circle 1.5 --period 2")


@pytest.mark.parametrize("make, message", [
    (lambda path: write_wav(path, np.zeros((1, 4800), np.float32)), "the recording is silent"),
    (lambda path: write_wav(path, speech_like(96000)[None]),
     "talk.wav lasts 2.0 s, longer than the 1 s this page synthesises; the command line"),
    (lambda path: path.write_bytes(b"RIFF and nothing else"), "not a readable audio file"),
    (lambda path: write_wav(path, np.stack([speech_like(4800)] * 2)),
     "talk.wav has 2 channels, but the model takes one voice"),
])
def test_bad_input_is_a_message_in_the_page_with_the_files_own_name(page, tmp_path, make,
                                                                     message):
    clip = tmp_path / "upload" / "talk.wav"
    clip.parent.mkdir()
    make(clip)
    *players, status, command = synthesise(page, str(clip), None, "tiny", 0, *CIRCLE)
    assert players == [None] * 5
    assert status.startswith("**Could not synthesise:**") and message in status
    assert str(clip.parent) not in status  # Gradio's upload folder stays out of it
    assert not any(page.workspace.iterdir())  # nothing written


def test_no_clip_and_a_missing_positions_file_are_messages(page):
    assert synthesise(page, None, None, "tiny", 0, *CIRCLE)[5] == "Upload or record a clip first."
    no_file = ["file", *CIRCLE[1:]]
    assert "no positions file" in synthesise(page, "talk.wav", None, "tiny", 0, *no_file)[5]


def test_the_top_view_follows_the_settings_and_explains_a_bad_one(tmp_path):
    figure, status = redraw(None, *CIRCLE)
    assert status == "" and figure.axes[0].get_title() == \
        "walking a circle of 1.5 m, 2 s a lap, clockwise"
    too_close = ["circle", 45.0, 0.0, 1.5, 0.1, *CIRCLE[5:]]
    figure, status = redraw(None, *too_close)
    assert figure is None and "This path does not work" in status and "0.2 m" in status
    walk = ["line", *CIRCLE[1:11], 5, None]  # 6 m at 5 m/s: 1.2 s
    clip = tmp_path / "upload" / "talk.wav"
    clip.parent.mkdir()
    write_wav(clip, speech_like(48000)[None])
    assert "lower the speed to at most" in redraw(None, *walk)[1]  # longer: the 8 s preview
    assert redraw(str(clip), *walk)[1] == ""  # the 1 s recording
    clip.write_bytes(b"not audio")
    figure, status = redraw(str(clip), *CIRCLE)
    assert figure is not None and "This recording does not work" in status
    assert "talk.wav: not a readable audio file" in status and str(clip.parent) not in status


def test_a_multichannel_upload_asks_for_a_channel(tmp_path):
    clip = tmp_path / "stereo.wav"
    write_wav(clip, np.stack([speech_like(4800)] * 2))
    ask = on_recording(str(clip))
    assert ask["visible"] and ask["choices"] == ["1", "2", "downmix"]
    write_wav(tmp_path / "mono.wav", speech_like(4800)[None])
    assert not on_recording(str(tmp_path / "mono.wav"))["visible"]
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    assert not on_recording(str(tmp_path / "bad.wav"))["visible"]
