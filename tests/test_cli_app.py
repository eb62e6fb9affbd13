"""`binauralgrad app` without the extra: its help works and names the extra; running it says what
to install, without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from binauralgrad.cli import main


def without_gradio(*argv: str) -> subprocess.CompletedProcess:
    """The command line in a fresh process in which `import gradio` fails."""
    code = ("import sys; sys.modules['gradio'] = None; from binauralgrad.cli import main; "
            f"sys.exit(main({list(argv)!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_help_works_without_the_extra_and_names_it():
    done = without_gradio("app", "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert 'pip install -e ".[app]"' in text and "--max-seconds" in text
    assert "analytics off" in text


def test_running_without_the_extra_says_what_to_install():
    done = without_gradio("app")
    assert done.returncode == 2
    assert "binauralgrad app: error: the app needs the optional extra 'app'" in done.stderr
    assert 'pip install -e ".[app]"' in done.stderr and "Traceback" not in done.stderr


def test_bad_options_fail_before_anything_starts(capsys, tmp_path, monkeypatch):
    assert main(["app", "--max-seconds", "0"]) == 2
    assert "--max-seconds must be > 0, got 0.0" in capsys.readouterr().err
    pytest.importorskip("gradio", reason="the app extra is not installed")
    for name in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED"):  # the command sets them
        monkeypatch.setenv(name, "")
    assert main(["app", "--model", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
