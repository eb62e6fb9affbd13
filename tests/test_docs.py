"""Every code block of the README and of docs/ runs.

Each fenced block is extracted and run in a fresh folder that holds what the blocks name:
`talk.flac` (0.5 s of speech-like audio), `mono.wav` + `tx_positions.txt`, `walk.json`, a tiny
simulated data set under `data/`, a tiny random pipeline in `runs/pipeline`, the original's small
checkpoints, and `examples/`, `accelerate_configs/`, `tests/` linked in. `bash` blocks run as
one script each (`set -e`), `python` blocks in the test's process (`pipe`, `mono`,
`positions`, `source` and `play` are given for blocks that show a fragment of a program);
`text` blocks are diagrams and layouts, not run.

Long-running commands are made cheap by the substitutions in CHEAP, applied to each block's
text before it runs: installs are skipped (the package under test is on PYTHONPATH), the test
suite is only collected, and the data, training and demo sizes shrink to seconds (the same
commands and options otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from conftest import FIXTURES, make_tiny_pipeline, moving_positions, speech_like

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# Pages whose commands start many processes (each loads torch and a model): `-m slow`.
SLOW_PAGES = {"docs/positions.md", "docs/training.md", "docs/usage.md", "docs/simulator.md"}
TINY_TRAINING = ("--model-config tiny --batch-size 2 --clip-length 4000 --chunk-length 8000 "
                 "--hop-length 4000 --max-steps 1 --num-workers 0 --no-progress")
CHEAP = [
    (r"pip install [^&\n]*&& ", ""),                        # the environment is installed
    (r"^pip install .*$", "true"),
    (r"HF_HUB_OFFLINE=1 python -m pytest -q( -m slow)?",    # collected, not run (recursion)
     "python -m pytest -q --collect-only -p no:cacheprovider tests/test_lazy.py"),
    (r"binauralgrad demo --output-dir demo",
     "binauralgrad demo --output-dir demo --seconds 0.5 --no-plot --quiet"),
    (r"--train-minutes \S+ --test-minutes \S+( --sequences \d+)?",
     "--train-minutes 0.05 --test-minutes 0.05 --sequences 1"),
    (r"--max-steps 100", "--max-steps 2"),
    (r"--batch-size 4 --clip-length 8000",
     "--batch-size 2 --clip-length 4000 --chunk-length 8000 --hop-length 4000 --num-workers 0 "
     "--no-progress"),
    (r"make-synthetic data --train-minutes (\S+) --test-minutes (\S+) --sequences 1 --seed",
     r"make-synthetic simulated --train-minutes \1 --test-minutes \2 --sequences 1 --seed"),
    (r"accelerate_configs/single_gpu.yaml", "accelerate_configs/cpu.yaml"),
    (r"(--output-dir runs/stage_(one|two))", r"\1 " + TINY_TRAINING),
    (r"--output runs/pipeline$", "--output runs/pipeline --overwrite"),
    # The page's 6 s walk squeezed into the short test audio is a run, not a walk.
    (r"times_s=\[0, 3, 6\]", "times_s=[0, 0.25, 0.5], max_speed_m_s=None"),
    (r"^binauralgrad app\b.*$", "binauralgrad app --help > /dev/null"),  # serves until stopped
]


def blocks(page: str) -> list[tuple[str, str]]:
    return FENCE.findall((ROOT / page).read_text())


def cheap(code: str) -> str:
    for pattern, replacement in CHEAP:
        code = re.sub(pattern, replacement, code, flags=re.M)
    return code


@pytest.fixture(scope="module")
def template(tmp_path_factory, dataset_dir) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    mono = speech_like(24000)
    soundfile.write(folder / "talk.flac", mono, 48000)
    soundfile.write(folder / "mono.wav", mono, 48000)
    np.savetxt(folder / "tx_positions.txt", moving_positions(60))
    (folder / "walk.json").write_text(json.dumps(
        {"times_s": [0, 0.25, 0.5], "positions": [[2, -2], [1.2, 0], [2, 2]],
         "max_speed_m_s": None}))  # the short test audio's walk is a run
    shutil.copytree(dataset_dir, folder / "data")
    make_tiny_pipeline().save_pretrained(folder / "runs" / "pipeline")
    outputs = folder / "outputs"
    outputs.mkdir()
    for sequence in sorted((folder / "data" / "testset").iterdir()):
        shutil.copy(sequence / "binaural.wav", outputs / f"{sequence.name}.wav")
    for stage in ("one", "two"):
        shutil.copy(FIXTURES / f"original_stage_{stage}_small.pt",
                    folder / f"binauralgrad_stage_{stage}.pt")
    for name in ("examples", "accelerate_configs", "tests"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def prelude() -> dict:
    """Names that fragments use without defining: a tiny pipeline and a short input."""
    mono, positions = speech_like(4000), moving_positions(10)
    source = [(mono[first: first + 800], positions[first // 400: (first + 800) // 400])
              for first in range(0, 4000, 800)]
    return {"torch": torch, "pipe": make_tiny_pipeline(), "mono": mono, "positions": positions,
            "source": source, "play": lambda audio: None}


def run_block(page: str, language: str, code: str, folder: Path, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    code = cheap(code)
    if language == "python":
        exec(compile(code, f"{page} block", "exec"), prelude())  # noqa: S102
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), "HF_HUB_OFFLINE": "1", "BINAURALGRAD_TUNING": "off"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{page}:\n{code}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


def cases() -> list:
    """One case per runnable block; the many-process pages and the training runs are slow."""
    params = []
    for page in PAGES:
        for index, (language, code) in enumerate(blocks(page)):
            if language == "text":
                continue
            assert language in ("bash", "python"), f"{page}: a ```{language} block"
            slow = (page in SLOW_PAGES and language == "bash") or "binauralgrad train" in code
            params.append(pytest.param(page, language, code, id=f"{page}#{index}",
                                       marks=[pytest.mark.slow] if slow else []))
    return params


@pytest.mark.parametrize("page,language,code", cases())
def test_every_code_block_runs(page, language, code, template, tmp_path, monkeypatch):
    folder = tmp_path / "work"
    shutil.copytree(template, folder, symlinks=True)
    run_block(page, language, code, folder, monkeypatch)


def test_the_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 250
    # Its first two lines are the two commands that install and demo, and install and test.
    assert lines[1].endswith("binauralgrad demo --output-dir demo")
    assert lines[2].endswith("python -m pytest -q -rs")  # -rs: why a test skipped
    for link in re.findall(r"\]\((docs/[\w.]+)", text):
        assert (ROOT / link).is_file(), link


def test_the_demo_command_is_made_cheap_not_changed():
    line = blocks("README.md")[0][1].splitlines()[0]
    assert cheap(line) == "binauralgrad demo --output-dir demo --seconds 0.5 --no-plot --quiet"
