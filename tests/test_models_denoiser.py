"""BinauralDenoiser: parity with the original, paper sizes, save/load, and bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, load_npz, randomize

from binauralgrad import BinauralDenoiser, DenoiserConfig, DenoiserOutput

STAGES = [(1, "one"), (2, "two")]


def fixture_conditions(data: dict, stage: int) -> dict:
    return {
        "warped": data["geowarp"], "mono": data["mono"],
        "positions": data["positions"].transpose(1, 2),
        "mean": data["mean_condition"] if stage == 2 else None,
    }


@pytest.mark.parametrize("stage,name", STAGES)
@pytest.mark.parametrize("case", ["int", "float"])
def test_matches_original_outputs(original_denoisers, stage, name, case):
    data = load_npz(f"denoiser_stage_{name}_small.npz")
    with torch.no_grad():
        out = original_denoisers[stage](data["noisy"], data[f"step_{case}"],
                                        **fixture_conditions(data, stage))
    assert isinstance(out, DenoiserOutput)
    torch.testing.assert_close(out.sample, data[f"output_{case}"], atol=1e-5, rtol=0)
    assert len(out.aux_samples) == data[f"aux_outputs_{case}"].shape[0]
    torch.testing.assert_close(torch.stack(out.aux_samples), data[f"aux_outputs_{case}"],
                               atol=1e-5, rtol=0)


def test_paper_sizes_have_the_papers_parameter_counts():
    counts = [sum(p.numel() for p in BinauralDenoiser(config).parameters())
              for config in (DenoiserConfig.stage_one(), DenoiserConfig.stage_two())]
    assert counts == [6_909_921, 6_910_238]
    config = DenoiserConfig.stage_one()
    assert (config.residual_layers, config.residual_channels, config.dilation_cycle_length,
            config.condition_channels, config.num_train_steps, config.aux_output_every) == \
        (30, 128, 10, 80, 200, 3)


def tiny_inputs(stage: int, batch: int = 2, frames: int = 3, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    length = 400 * frames
    return {
        "noisy": torch.randn(batch, stage, length, generator=generator),
        "warped": torch.randn(batch, 2, length, generator=generator),
        "mono": torch.randn(batch, 1, length, generator=generator),
        "positions": torch.randn(batch, 7, frames, generator=generator),
        "mean": torch.randn(batch, 1, length, generator=generator) if stage == 2 else None,
    }


@pytest.mark.parametrize("stage", [1, 2])
def test_save_then_load_gives_identical_outputs(tmp_path, stage):
    config = (DenoiserConfig.stage_one if stage == 1 else DenoiserConfig.stage_two)(**TINY)
    model = randomize(BinauralDenoiser(config), seed=stage).eval()
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    loaded = BinauralDenoiser.from_pretrained(tmp_path)
    assert loaded.config == config
    inputs = tiny_inputs(stage)
    noisy = inputs.pop("noisy")
    with torch.no_grad():
        expected = model(noisy, torch.tensor([7.5]), **inputs)
        got = loaded(noisy, torch.tensor([7.5]), **inputs)
    assert torch.equal(expected.sample, got.sample)
    assert all(torch.equal(a, b) for a, b in zip(expected.aux_samples, got.aux_samples,
                                                         strict=True))


def test_fractional_step_interpolates_between_table_rows():
    from torch.nn import functional as F

    model = randomize(BinauralDenoiser(DenoiserConfig.stage_one(**TINY)), seed=3)
    embed = model.diffusion_embedding
    features = 0.75 * embed.table[4] + 0.25 * embed.table[5]
    expected = F.silu(embed.projection2(F.silu(embed.projection1(features))))
    torch.testing.assert_close(embed(torch.tensor([4.25]))[0], expected)
    assert torch.equal(embed(torch.tensor([4.0])), embed(torch.tensor([4])))


def test_aux_outputs_are_optional_and_counted():
    model = randomize(BinauralDenoiser(DenoiserConfig.stage_one(residual_layers=7,
                                                                 residual_channels=8)), seed=1)
    inputs = tiny_inputs(1)
    noisy = inputs.pop("noisy")
    full = model(noisy, torch.tensor([3, 4]), **inputs)
    bare = model(noisy, torch.tensor([3, 4]), **inputs, return_aux=False)
    assert len(full.aux_samples) == 2 and bare.aux_samples == ()
    assert torch.equal(full.sample, bare.sample)


def test_loading_refuses_missing_or_foreign_weights(tmp_path):
    from safetensors.torch import save_file

    model = BinauralDenoiser(DenoiserConfig.stage_one(**TINY))
    model.save_pretrained(tmp_path)
    state = dict(model.state_dict())
    state.pop("skip_projection.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"missing: skip_projection.bias.*unexpected: extra"):
        BinauralDenoiser.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        BinauralDenoiser.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        BinauralDenoiser.from_pretrained(tmp_path)


@pytest.mark.parametrize("overrides,match", [
    ({"residual_layers": 0}, "residual_layers"),
    ({"residual_channels": 2.5}, "residual_channels"),
    ({"out_channels": 3}, "out_channels"),
    ({"condition_channels": 30}, "condition_channels"),
    ({"use_mean_condition": "yes"}, "use_mean_condition"),
])
def test_config_validation_names_the_bad_value(overrides, match):
    with pytest.raises(ValueError, match=match):
        DenoiserConfig(**overrides)


@pytest.mark.parametrize("change,match", [
    ({"mono": torch.zeros(2, 2, 1200)}, r"mono must be \(B, 1, T\)"),
    ({"warped": torch.zeros(2, 1, 1200)}, "warped must be"),
    ({"positions": torch.zeros(2, 7, 4)}, "positions must be"),
    ({"mean": None}, "stage two needs mean"),
    ({"noisy": torch.zeros(2, 1, 1200)}, "noisy must be"),
])
def test_bad_shapes_raise_clear_errors(change, match):
    model = BinauralDenoiser(DenoiserConfig.stage_two(**TINY))
    inputs = {**tiny_inputs(2), **change}
    noisy = inputs.pop("noisy")
    with pytest.raises(ValueError, match=match):
        model(noisy, torch.tensor([1]), **inputs)


@pytest.mark.parametrize("timesteps,match", [
    (torch.tensor([1, 2, 3]), r"timesteps must be \(B,\)"),
    (torch.tensor([200]), r"timesteps must lie in \[0, 199\]"),
    (torch.tensor([-0.5]), "timesteps must lie"),
])
def test_bad_timesteps_raise(timesteps, match):
    model = BinauralDenoiser(DenoiserConfig.stage_one(**TINY))
    inputs = tiny_inputs(1)
    noisy = inputs.pop("noisy")
    with pytest.raises(ValueError, match=match):
        model(noisy, timesteps, **inputs)


def test_stage_one_refuses_a_mean():
    model = BinauralDenoiser(DenoiserConfig.stage_one(**TINY))
    inputs = tiny_inputs(1)
    noisy = inputs.pop("noisy")
    inputs["mean"] = inputs["mono"]
    with pytest.raises(ValueError, match="takes no mean"):
        model(noisy, torch.tensor([1]), **inputs)


@pytest.mark.slow
def test_paper_size_forward_runs():
    model = BinauralDenoiser(DenoiserConfig.stage_two())
    inputs = tiny_inputs(2, batch=1, frames=2)
    noisy = inputs.pop("noisy")
    with torch.no_grad():
        out = model(noisy, torch.tensor([10]), **inputs)
    assert out.sample.shape == noisy.shape and len(out.aux_samples) == 10


def test_the_configs_encoder_reach_is_the_encoders_own():
    from conftest import randomize

    from binauralgrad import BinauralDenoiser, DenoiserConfig

    config = DenoiserConfig.stage_two(residual_layers=2, residual_channels=4,
                                      dilation_cycle_length=1, condition_channels=8)
    denoiser = randomize(BinauralDenoiser(config), 0).eval()
    length, spike = 800, 400
    zeros = {"warped": torch.zeros(1, 2, length), "mono": torch.zeros(1, 1, length),
             "mean": torch.zeros(1, 1, length), "positions": torch.zeros(1, 7, 2)}
    bumped = {**zeros, "mono": zeros["mono"].clone()}
    bumped["mono"][..., spike] = 1.0
    with torch.no_grad():
        changed = (denoiser.encode_condition(**bumped) - denoiser.encode_condition(**zeros))
    moved = changed.abs().amax(dim=(0, 1)).nonzero().flatten()
    assert (spike - moved.min(), moved.max() - spike) == (config.encoder_reach,) * 2
