"""The import paths the README used to name still work, and say where the names live now."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("binauralgrad.audio_io", "read_wav", "binauralgrad.io.audio"),
    ("binauralgrad.audio_io", "read_positions", "binauralgrad.io.positions"),
    ("binauralgrad.audio_io", "limit_peak", "binauralgrad.io.audio"),
    ("binauralgrad.convert", "convert_original", "binauralgrad.io.original"),
    ("binauralgrad.binaural_metrics", "METRIC_PATH", "binauralgrad.evaluation.binaural_metrics"),
]


@pytest.mark.parametrize("old,name,new", MOVED)
def test_old_paths_warn_and_give_the_same_object(old, name, new):
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        _ = importlib.import_module(old).no_such_name


def test_the_inference_names_of_0_1_warn_and_give_the_new_objects():
    import binauralgrad.inference as inference
    from binauralgrad.inference import folded
    from binauralgrad.inference.plan import WavefrontOptions

    with pytest.warns(DeprecationWarning, match="WavefrontOptions"):
        assert inference.FastOptions is WavefrontOptions
    with pytest.warns(DeprecationWarning, match="FoldedDenoiser"):
        assert folded.FastDenoiser is folded.FoldedDenoiser
    with pytest.warns(DeprecationWarning, match="pipeline_reach"):
        assert inference.receptive_field is inference.pipeline_reach
