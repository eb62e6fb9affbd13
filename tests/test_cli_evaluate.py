"""Tests of `binauralgrad evaluate`: the printed table, JSON, figures, protocols, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluation_folder import PNG_SIGNATURE, make_testset, noisy, write_predictions

from binauralgrad.cli import main
from binauralgrad.evaluation.metrics import metric_names


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    testset = make_testset(root / "testset", lengths_s=(1.5, 0.8))
    return write_predictions(testset, root / "predictions", noisy), testset


def test_evaluate_prints_the_papers_table(folders, capsys):
    assert main(["evaluate", *map(str, folders), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("|")[1].strip() == "Sequence" and "Wave L2 (x1000)" in lines[0]
    assert "PESQ full" not in lines[0] and "ITD error (us)" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:5]] == [
        "subject1",
        "subject2",
        "overall",
    ]


def test_evaluate_writes_json_and_figures(folders, tmp_path, capsys):
    predictions, testset = map(str, folders)
    json_path, plot_dir = tmp_path / "results.json", tmp_path / "figures"
    command = ["evaluate", predictions, testset, "--json", str(json_path), "--plot", str(plot_dir)]
    assert main([*command, "--protocol", "full", "--quiet"]) == 0
    assert "PESQ full" in capsys.readouterr().out.splitlines()[0]
    results = json.loads(json_path.read_text())
    assert list(results["overall"]) == list(metric_names("full"))
    assert set(results["sequences"]) == {"subject1", "subject2"}
    assert 1e-6 < results["overall"]["wave_l2"] < 1e-4  # unscaled, unlike the table
    names = sorted(path.name for path in plot_dir.iterdir())
    assert names == [
        "metrics.png",
        "subject1_cues.png",
        "subject1_spectrograms.png",
        "subject2_cues.png",
        "subject2_spectrograms.png",
    ]
    assert all((plot_dir / name).read_bytes().startswith(PNG_SIGNATURE) for name in names)


def test_evaluate_never_overwrites_without_permission(folders, tmp_path, capsys):
    predictions, testset = map(str, folders)
    json_path = tmp_path / "results.json"
    json_path.write_text("keep me")
    assert main(["evaluate", predictions, testset, "--json", str(json_path), "--quiet"]) == 2
    assert f"{json_path} exists" in capsys.readouterr().err and json_path.read_text() == "keep me"
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "metrics.png").write_text("keep me too")
    assert main(["evaluate", predictions, testset, "--plot", str(tmp_path / "figures")]) == 2
    assert "metrics.png exists" in capsys.readouterr().err
    assert main(["evaluate", predictions, testset, "--plot", str(json_path)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    command = ["evaluate", predictions, testset, "--json", str(json_path), "--overwrite", "--quiet"]
    assert main(command) == 0
    assert "overall" in json.loads(json_path.read_text())


def test_evaluate_names_a_missing_or_mismatched_file(folders, tmp_path, capsys):
    predictions, testset = folders
    assert main(["evaluate", str(tmp_path), str(testset)]) == 2
    assert "subject1.wav" in capsys.readouterr().err
    assert main(["evaluate", str(predictions), str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_evaluate_rejects_an_unknown_protocol(folders, capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", *map(str, folders), "--protocol", "fancy"])
    assert "invalid choice" in capsys.readouterr().err
