"""Model cards: what they state, and that a shared model names no machine's own paths."""

from __future__ import annotations

import re

import pytest

from binauralgrad.constants import DEFAULT_MODEL_DIR, LIVE_MODEL_DIR
from binauralgrad.io.cards import portable_path, portable_recipe, recipe_lines


def test_paths_become_relative_or_their_last_two_parts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert portable_path(str(tmp_path / "data" / "trainset")) == "data/trainset"
    assert portable_path("/elsewhere/runs/model/data/testset") == "data/testset"
    assert portable_path("data/trainset") == "data/trainset"
    recipe = portable_recipe({"data_dir": "/home/me/data/trainset", "seed": 3, "resume": None})
    assert recipe == {"data_dir": "data/trainset", "seed": 3, "resume": None}


def test_a_nested_prior_is_stated_as_its_flags():
    line = recipe_lines({"prior": {"kind": "warp", "std": "envelope", "scale": 0.5, "gain": 0.4},
                         "data_dir": "/abs/path/data/trainset"})[0]
    assert "`prior`=warp, `prior_std`=envelope, `prior_scale`=0.5, `prior_gain`=0.4" in line
    assert "`data_dir`=data/trainset" in line


@pytest.mark.parametrize("folder", [DEFAULT_MODEL_DIR, LIVE_MODEL_DIR])
def test_the_embedded_models_name_no_absolute_paths(folder):
    for path in [folder / "pipeline.json", *folder.rglob("README.md")]:
        text = path.read_text()
        assert not re.search(r'["=`]/(root|home|tmp|work|Users)/', text), path
