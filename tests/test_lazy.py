"""Packages' public names load their modules on first use and list themselves."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["binauralgrad", "binauralgrad.io", "binauralgrad.evaluation",
                                     "binauralgrad.training"])
def test_every_public_name_resolves_and_unknown_names_raise(package):
    module = importlib.import_module(package)
    assert dir(module) == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018
