"""The page's path settings: the description they make is the one their command line makes."""

from __future__ import annotations

import shlex

import numpy as np
import pytest

from binauralgrad import positions
from binauralgrad.app.paths import PathSettings, command_line, rows_for
from binauralgrad.cli import build_parser
from binauralgrad.cli.path_options import describe_positions
from binauralgrad.io.positions import write_positions


def parsed(command: str):
    argv = shlex.split(command)
    assert argv[:2] == ["binauralgrad", "synthesize"]
    return build_parser().parse_args(argv[1:])


@pytest.mark.parametrize("settings", [
    PathSettings(kind="standing", azimuth_deg=-60, elevation_deg=20, distance_m=1.0),
    PathSettings(kind="circle", radius_m=1.0, period_s=2, direction="counterclockwise"),
    PathSettings(kind="line", start=(-2, -3), end=(-2, 3)),
    PathSettings(kind="line", start=(2, 3), end=(2, -3), speed_m_s=1.2),
])
def test_the_command_line_describes_the_same_path(settings):
    args = parsed(command_line("my talk.flac", settings, seed=3))
    assert describe_positions(args) == settings.description()
    assert str(args.mono) == "my talk.flac" and str(args.output) == "my talk_binaural.wav"
    assert args.seed == 3 and args.channel is None and not args.downmix
    np.testing.assert_array_equal(rows_for(settings, 48000),
                                  settings.description().rows(48000))


def test_files_channels_and_models_on_the_command_line(tmp_path):
    rows_file = tmp_path / "tx_positions.txt"
    write_positions(rows_file, positions.static(800))
    settings = PathSettings(kind="file", file=str(rows_file))
    args = parsed(command_line("talk.wav", settings, model="runs/pipeline", channel=2))
    assert str(args.positions) == "tx_positions.txt" and args.model == "runs/pipeline"
    assert args.channel == 2
    args = parsed(command_line("talk.wav", settings, downmix=True))
    assert args.downmix and args.channel is None
    walk = tmp_path / "walk.json"
    walk.write_text('{"times_s": [0, 1], "positions": [[1, -1], [1, 1]]}')
    json_settings = PathSettings(kind="file", file=walk)
    assert str(parsed(command_line("talk.wav", json_settings)).path) == "walk.json"
    assert json_settings.description() == positions.load_path(walk)
    assert json_settings.summary() == "the path described in walk.json"
    assert settings.summary() == "the tracking rows of tx_positions.txt"


def test_summaries_and_refusals():
    assert PathSettings(kind="circle").summary() == \
        "walking a circle of 1.5 m, 8 s a lap, clockwise"
    assert PathSettings(kind="line").summary() == \
        "walking from (2, -3) to (2, 3) m over the whole clip"
    assert PathSettings(kind="standing", azimuth_deg=90).summary().startswith(
        "standing at azimuth 90 deg")
    with pytest.raises(ValueError, match="kind must be one of standing, circle, line, file"):
        PathSettings(kind="spiral")
    with pytest.raises(ValueError, match="period_s is empty: give a number"):
        PathSettings(kind="circle", period_s=None)
    with pytest.raises(ValueError, match="end is empty"):
        PathSettings(kind="line", end=(2.0, None))
    PathSettings(kind="standing", period_s=None)  # another kind's empty box does not matter
    with pytest.raises(ValueError, match="within 0.2 m of the listener"):
        PathSettings(kind="circle", radius_m=0.1).description()
