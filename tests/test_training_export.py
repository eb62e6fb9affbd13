"""Export, assembly into a pipeline, model cards and the Hub upload of trained stages."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch

from binauralgrad.training.ema import ExponentialMovingAverage


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[int, Path]:
    from binauralgrad import DenoiserConfig
    from binauralgrad.models.denoiser import BinauralDenoiser
    from binauralgrad.training.config import TINY_SIZES
    from binauralgrad.training.export import export_denoiser

    root = tmp_path_factory.mktemp("exported")
    presets = {1: DenoiserConfig.stage_one, 2: DenoiserConfig.stage_two}
    recipe = {"model_config": "tiny", "max_steps": 7, "prior": "zero", "steps_done": 7}
    return {stage: export_denoiser(BinauralDenoiser(preset(**TINY_SIZES)), root / f"stage{stage}",
                                   training={**recipe, "stage": stage})
            for stage, preset in presets.items()}


def test_cards_state_what_is_known_and_nothing_else(exported, tmp_path):
    from binauralgrad import BinauralGradPipeline
    from binauralgrad.training import assemble_pipeline

    card = (exported[1] / "README.md").read_text()
    assert "More Information Needed" not in card and "pushed to the Hub" not in card
    assert "4 layers x 8 channels" in card and "`max_steps`=7" in card
    results = tmp_path / "results.md"
    results.write_text("| system | Wave L2 |\n|---|---|\n| model | 1.0 |\n")
    folder = assemble_pipeline(exported[1], exported[2], tmp_path / "pipe", info={
        "evaluation": {"setting": "9 held-out scenes", "table": results.read_text()},
        "steps": {"setting": "per step count", "table": "| steps | Wave L2 |\n|---|---|\n"}})
    card = (folder / "README.md").read_text()
    assert "ceil(T / 400)" in card and "9 held-out scenes" in card and "| model | 1.0 |" in card
    assert "samples with 6 reverse steps a stage at temperature" in card
    assert card.index("## Evaluation") < card.index("per step count") < card.index("| steps |")
    assert card.count("`max_steps`=7") == 2
    loaded = BinauralGradPipeline.from_pretrained(folder)
    assert loaded.info["training"]["stage_two"]["stage"] == 2
    again = loaded.save_pretrained(tmp_path / "again")
    assert (again / "README.md").read_text() == card
    loaded.fast_steps = 2
    two = loaded.save_pretrained(tmp_path / "two")
    assert "samples with 2 reverse steps a stage" in (two / "README.md").read_text()
    assert "`max_steps`=7" in (again / "stage_one" / "README.md").read_text()


def test_assemble_writes_a_loadable_pipeline(exported, tmp_path):
    from binauralgrad import BinauralGradPipeline
    from binauralgrad.cli.train import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["assemble", "--stage-one", str(exported[1]), "--stage-two",
                              str(exported[2]), "--output", str(tmp_path / "pipe"), "--quiet",
                              "--temperature", "0.5"])
    assert args.func(args) == 0
    pipe = BinauralGradPipeline.from_pretrained(tmp_path / "pipe")
    assert pipe.schedule.temperature == 0.5
    out = pipe(torch.zeros(4000), torch.tensor([[1.0, 0, 0, 0, 0, 0, 1]]).repeat(10, 1),
               generator=torch.Generator().manual_seed(0), progress=False)
    assert out.audio.shape == (2, 4000)
    with pytest.raises(FileExistsError):
        args.func(args)


def test_assemble_refuses_swapped_stages(exported, tmp_path):
    from binauralgrad.training import assemble_pipeline

    with pytest.raises(ValueError, match="stage-2 denoiser"):
        assemble_pipeline(exported[2], exported[1], tmp_path / "pipe")


def test_export_uses_ema_weights(tmp_path):
    from binauralgrad.models.denoiser import BinauralDenoiser, DenoiserConfig, load_denoiser
    from binauralgrad.training import export_denoiser

    model = BinauralDenoiser(DenoiserConfig.stage_one(residual_layers=2, residual_channels=4))
    ema = ExponentialMovingAverage(model, decay=0.5)
    start = float(model.output_projection.bias.detach())
    with torch.no_grad():
        model.output_projection.bias.fill_(1.0)
    ema.update(model)
    raw = load_denoiser(export_denoiser(model, tmp_path / "raw"))
    averaged = load_denoiser(export_denoiser(model, tmp_path / "ema", ema))
    assert float(raw.output_projection.bias.detach()) == 1.0
    # The first update's warm-up decay is 1/10: the shadow moves 90 % of the way.
    assert float(averaged.output_projection.bias.detach()) == pytest.approx(0.1 * start + 0.9)


def test_push_to_hub_uploads_the_export(exported, monkeypatch):
    import huggingface_hub

    from binauralgrad.training.export import push_denoiser

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            calls["repo"] = repo_id

        def upload_folder(self, repo_id, folder_path, **kwargs):
            calls["folder"] = folder_path
            return "https://huggingface.co/user/model/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert push_denoiser(exported[1], "user/model").endswith("/commit/1")
    assert calls == {"repo": "user/model", "folder": os.fspath(exported[1])}
