"""Converting the original checkpoints: exact weights, and refusal of anything that does not fit."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURES, load_npz

from binauralgrad import BinauralGradPipeline
from binauralgrad.cli import main
from binauralgrad.io.original import config_from_params, load_original_denoiser

ONE, TWO = FIXTURES / "original_stage_one_small.pt", FIXTURES / "original_stage_two_small.pt"


def test_cli_converts_to_a_pipeline_that_matches_the_original(tmp_path, capsys):
    assert main(["convert-original", "--stage-one", str(ONE), "--stage-two", str(TWO),
                 "--output", str(tmp_path / "pipe")]) == 0
    assert "wrote pipeline folder" in capsys.readouterr().out
    pipeline = BinauralGradPipeline.from_pretrained(tmp_path / "pipe")
    assert pipeline.stage_one.config.residual_layers == 6
    assert pipeline.schedule.fast_betas == [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
    assert pipeline.fast_steps == 6  # the paper's sampler
    data = load_npz("denoiser_stage_two_small.npz")
    with torch.no_grad():
        out = pipeline.stage_two(data["noisy"], data["step_int"], warped=data["geowarp"],
                                 mono=data["mono"], positions=data["positions"].transpose(1, 2),
                                 mean=data["mean_condition"])
    torch.testing.assert_close(out.sample, data["output_int"], atol=1e-5, rtol=0)
    assert main(["convert-original", "--stage-one", str(ONE), "--stage-two", str(TWO),
                 "--output", str(tmp_path / "pipe")]) == 2
    assert "overwrite" in capsys.readouterr().err


def tampered(tmp_path, change) -> str:
    checkpoint = torch.load(ONE, weights_only=True)
    change(checkpoint)
    path = tmp_path / "tampered.pt"
    torch.save(checkpoint, path)
    return path


def test_missing_unexpected_and_misshaped_weights_are_named(tmp_path):
    def edit(checkpoint):
        checkpoint["model"].pop("skip_projection.weight")
        checkpoint["model"]["surprise.bias"] = torch.zeros(3)
        checkpoint["model"]["input_projection.bias"] = torch.zeros(5)

    with pytest.raises(ValueError) as error:
        load_original_denoiser(tampered(tmp_path, edit), 1)
    message = str(error.value)
    assert "missing: skip_projection.weight" in message
    assert "unexpected: surprise.bias" in message
    assert "input_projection.bias: (5,) vs model (16,)" in message


def test_sizes_come_from_params_or_the_paper():
    small = config_from_params({"residual_layers": 6, "residual_channels": 16}, 1)
    assert (small.residual_layers, small.residual_channels) == (6, 16)
    paper = config_from_params(None, 2)
    assert (paper.residual_layers, paper.out_channels, paper.use_mean_condition) == (30, 2, True)


def test_wrong_stage_is_refused():
    with pytest.raises(ValueError, match="trained as stage 2"):
        load_original_denoiser(TWO, 1)


def test_code_carrying_pickles_are_refused(tmp_path):

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Payload()}, path)
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_original_denoiser(path, 1)


def test_truncated_and_foreign_files(tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ONE.read_bytes()[:5000])
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_original_denoiser(truncated, 1)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="expected a dict with a 'model' state dict"):
        load_original_denoiser(foreign, 1)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_original_denoiser(tmp_path / "absent.pt", 1)
