"""The command line answers at once: no heavy imports for --help, help text on every option."""

from __future__ import annotations

import argparse
import subprocess
import sys

from binauralgrad.cli import build_parser


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_building_the_parser_imports_no_torch():
    code = ("import sys; from binauralgrad.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'accelerate', 'datasets', 'matplotlib') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_every_option_has_help_that_states_its_default():
    missing = []
    for name, parser in subcommands().items():
        for action in parser._actions:
            if action.dest == "help":
                continue
            text = action.help or ""
            has_default = action.default not in (None, False) and action.option_strings
            if not text or (has_default and "default" not in text) or "default: True" in text:
                missing.append(f"{name} {action.option_strings or action.dest}: {text!r}")
    assert not missing, missing


def test_train_is_a_subcommand_with_the_training_options():
    train = subcommands()["train"]
    options = {option for action in train._actions for option in action.option_strings}
    assert {"--stage", "--prior", "--noise-levels", "--resume", "--mixed-precision"} <= options
