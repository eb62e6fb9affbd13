"""Converts the original BinauralGrad training checkpoints (.pt) into a pipeline folder."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from binauralgrad.io.hub import load_state_strict
from binauralgrad.models.denoiser import BinauralDenoiser, DenoiserConfig
from binauralgrad.schedule import NoiseSchedule

# The original names the condition encoder `binaural_pre_net` with convs named by branch.
_RENAMED_PREFIXES = {
    "binaural_pre_net.conv_dsp1.": "condition_encoder.dsp_conv1.",
    "binaural_pre_net.conv_dsp2.": "condition_encoder.dsp_conv2.",
    "binaural_pre_net.conv_view1.": "condition_encoder.view_conv1.",
    "binaural_pre_net.conv_view2.": "condition_encoder.view_conv2.",
    "binaural_pre_net.conv.": "condition_encoder.merge_conv.",
}


def read_original_checkpoint(path: str | os.PathLike) -> dict:
    """Loads an original checkpoint without unpickling code (`weights_only=True`).

    Returns:
        The checkpoint dict; it must hold `model` (a state dict) and may hold `params`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (or holds objects other "
                         f"than tensors and plain values): {error}") from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise ValueError(f"{path} is not an original BinauralGrad checkpoint: expected a dict "
                         "with a 'model' state dict")
    return checkpoint


def config_from_params(params: dict | None, stage: int) -> DenoiserConfig:
    """The denoiser config of an original run's `params` (paper sizes for what is absent)."""
    params = params or {}
    preset = DenoiserConfig.stage_one if stage == 1 else DenoiserConfig.stage_two
    declared_two = bool(params.get("use_mean_condition", False))
    declared_one = bool(params.get("predict_mean_condition", False))
    if (stage == 1 and declared_two) or (stage == 2 and declared_one):
        raise ValueError(f"the checkpoint given as stage {stage} was trained as stage "
                         f"{2 if declared_two else 1} (its params say so)")
    overrides = {key: params[key] for key in
                 ("residual_layers", "residual_channels", "dilation_cycle_length") if key in params}
    if "noise_schedule" in params:
        overrides["num_train_steps"] = len(params["noise_schedule"])
    if "loss_per_layer" in params:
        overrides["aux_output_every"] = int(params["loss_per_layer"])
    return preset(**overrides)


def schedule_from_params(params: dict | None) -> NoiseSchedule:
    """The noise schedule of an original run's `params` (the paper's where absent)."""
    params = params or {}
    defaults = NoiseSchedule()
    return NoiseSchedule(
        train_betas=list(params.get("noise_schedule", defaults.train_betas)),
        fast_betas=list(params.get("inference_noise_schedule", defaults.fast_betas)),
    )


def rename_original_state(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Maps the original's parameter names onto this package's."""
    if state_dict and all(key.startswith("module.") for key in state_dict):
        state_dict = {key[len("module."):]: value for key, value in state_dict.items()}
    renamed = {}
    for key, value in state_dict.items():
        for old, new in _RENAMED_PREFIXES.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value
    return renamed


def load_original_denoiser(path: str | os.PathLike, stage: int) -> tuple[BinauralDenoiser, dict]:
    """Builds a denoiser from an original checkpoint; optimizer and scaler state are ignored.

    Args:
        path: the original `.pt` file.
        stage: 1 or 2.

    Returns:
        The denoiser (eval mode, float32) and the checkpoint's `params` dict (may be empty).
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    checkpoint = read_original_checkpoint(path)
    params = checkpoint.get("params") or {}
    denoiser = BinauralDenoiser(config_from_params(params, stage))
    renamed = rename_original_state(checkpoint["model"])
    state = {key: value.float() for key, value in renamed.items()}
    load_state_strict(denoiser, state, str(path))
    return denoiser.eval(), params


def convert_original(stage_one: str | os.PathLike, stage_two: str | os.PathLike,
                     output: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Writes a pipeline folder from the two original checkpoints.

    Args:
        stage_one, stage_two: the original `.pt` checkpoints of each stage.
        output: the folder to write (`stage_one/`, `stage_two/`, `pipeline.json`).
        overwrite: replace an existing non-empty folder.

    Returns:
        The output folder.
    """
    from binauralgrad.pipeline import BinauralGradPipeline

    first, params_one = load_original_denoiser(stage_one, 1)
    second, params_two = load_original_denoiser(stage_two, 2)
    schedule = schedule_from_params(params_one)
    if schedule != schedule_from_params(params_two):
        raise ValueError(f"{stage_one} and {stage_two} were trained with different noise schedules")
    pipeline = BinauralGradPipeline(first, second, schedule)
    pipeline.save_pretrained(output, overwrite=overwrite)
    return Path(output)
