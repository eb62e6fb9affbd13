"""Tests of `binauralgrad benchmark`: end to end with a tiny model, resuming, several processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluation_folder import PNG_SIGNATURE, make_testset

from binauralgrad.cli import main
from binauralgrad.dsp import geometric_warp
from binauralgrad.evaluation.folder import evaluate_folder
from binauralgrad.evaluation.plots import plot_files
from binauralgrad.io.audio import read_wav
from binauralgrad.io.positions import read_positions


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A two-sequence test set (3 s + 2 s), a tiny saved pipeline, and one finished benchmark."""
    from conftest import make_tiny_pipeline

    root = tmp_path_factory.mktemp("benchmark")
    testset = make_testset(root / "testset", lengths_s=(1.0, 0.6))
    make_tiny_pipeline().save_pretrained(root / "model")
    output = root / "output"
    command = ["benchmark", "--model", str(root / "model"), "--testset", str(testset)]
    assert main([*command, "--output-dir", str(output), "--quiet"]) == 0
    return {"testset": testset, "model": root / "model", "output": output, "command": command}


def test_the_benchmark_writes_audio_table_json_and_plots(setup, capsys):
    output, testset = setup["output"], setup["testset"]
    results = json.loads((output / "results.json").read_text())
    assert set(results["systems"]) == {"binauralgrad", "dsp"}
    assert results["settings"]["protocol"] == "paper" and results["settings"]["seed"] == 0
    for system, result in results["systems"].items():
        assert list(result["sequences"]) == ["subject1", "subject2"]
        # The stored numbers are those of evaluating the written audio.
        evaluation = evaluate_folder(output / system, testset, progress=False)
        assert result["overall"] == pytest.approx(evaluation.overall)
    table = (output / "results.md").read_text()
    assert "| BinauralGrad " in table and "| DSP (geometric warp) " in table
    for path in plot_files(output / "plots", ["subject1", "subject2"]):
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    # The geometric warp is the reference's timing, so the baseline's ITD error is ~0.
    assert results["systems"]["dsp"]["overall"]["itd_error"] < 1.0


def test_the_baseline_is_the_geometric_warp(setup):
    folder = setup["testset"] / "subject2"
    mono = read_wav(folder / "mono.wav")
    positions = read_positions(folder / "tx_positions.txt")
    rows = torch.from_numpy(np.ascontiguousarray(positions.T))[None]
    expected = geometric_warp(torch.from_numpy(mono)[None], rows)[0].numpy()
    np.testing.assert_array_equal(read_wav(setup["output"] / "dsp" / "subject2.wav"), expected)


def test_a_finished_benchmark_is_not_overwritten(setup, capsys):
    command = [*setup["command"], "--output-dir", str(setup["output"]), "--quiet"]
    assert main(command) == 2
    assert "results.json exists" in capsys.readouterr().err


def test_an_interrupted_benchmark_resumes(setup, tmp_path):
    output = tmp_path / "output"
    shutil.copytree(setup["output"], output)
    for name in ("results.json", "results.md"):
        (output / name).unlink()
    shutil.rmtree(output / "plots")
    kept = output / "binauralgrad" / "subject1.wav"
    os.utime(kept, (0, 0))  # a resumed run must leave a finished sequence untouched
    (output / "binauralgrad" / "subject2.wav").unlink()
    command = [*setup["command"], "--output-dir", str(output), "--quiet", "--no-plots"]
    assert main(command) == 0
    assert kept.stat().st_mtime == 0
    redone = read_wav(output / "binauralgrad" / "subject2.wav")
    np.testing.assert_allclose(
        redone, read_wav(setup["output"] / "binauralgrad" / "subject2.wav"), atol=1e-5
    )
    assert not (output / "plots").exists()


def test_bad_benchmark_inputs_are_clear_errors(setup, tmp_path, capsys):
    testset = tmp_path / "testset"
    shutil.copytree(setup["testset"], testset)
    (testset / "subject2" / "binaural.wav").unlink()
    command = ["benchmark", "--model", str(setup["model"]), "--testset", str(testset)]
    assert main([*command, "--output-dir", str(tmp_path / "out")]) == 2
    assert "subject2/binaural.wav" in capsys.readouterr().err
    missing_model = [
        "benchmark",
        "--model",
        str(tmp_path / "no-model"),
        "--testset",
        str(setup["testset"]),
    ]
    assert main([*missing_model, "--output-dir", str(tmp_path / "out2"), "--quiet"]) == 2
    assert "no-model" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()  # the model is loaded before any audio is written


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A second `accelerate launch`: test_training_distributed keeps one in the default suite.
@pytest.mark.slow
def test_two_processes_split_the_sequences_and_gather_one_table(setup, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo), as it starts one process per GPU."""
    output = tmp_path / "output"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "--multi_gpu"]
    launch += ["--main_process_port", str(_free_port()), "--num_processes", "2"]
    options = [*setup["command"], "--output-dir", str(output), "--quiet", "--no-plots"]
    environment = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launch, "-m", "binauralgrad", *options],
        env={**environment, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("| BinauralGrad ") == 1  # only the main process prints the table
    results = json.loads((output / "results.json").read_text())
    assert results["settings"]["num_processes"] == 2
    single = json.loads((setup["output"] / "results.json").read_text())["systems"]
    for system, result in single.items():
        assert list(results["systems"][system]["sequences"]) == ["subject1", "subject2"]
        for name, metrics in result["sequences"].items():
            for metric, value in metrics.items():
                # The processes run fewer threads, so the audio differs by float rounding (~1e-7),
                # to which PESQ of the untrained model's noise is sensitive at the 0.01 level.
                tolerance = (
                    {"abs": 0.02} if metric.startswith("pesq") else {"rel": 1e-4, "abs": 1e-6}
                )
                got = results["systems"][system]["sequences"][name][metric]
                assert got == pytest.approx(value, **tolerance)
