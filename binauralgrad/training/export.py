"""Exporting a trained denoiser (save_pretrained, EMA weights if kept); assembling a pipeline."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from binauralgrad.audio_io import atomic_folder
from binauralgrad.models.denoiser import BinauralDenoiser, load_denoiser
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training.ema import ExponentialMovingAverage


def exportable_denoiser(model: BinauralDenoiser,
                        ema: ExponentialMovingAverage | None = None) -> BinauralDenoiser:
    """A float32 CPU copy of the (unwrapped) model, holding the EMA weights when given."""
    exported = copy.deepcopy(model).float().cpu().eval()
    if ema is not None:
        ema.copy_to(exported)
    return exported


def export_denoiser(model: BinauralDenoiser, folder: str | os.PathLike,
                    ema: ExponentialMovingAverage | None = None) -> Path:
    """Writes `config.json` + `model.safetensors` into `folder`, replacing it atomically.

    Args:
        model: the unwrapped denoiser.
        folder: the export folder (e.g. `runs/stage_one/denoiser`); an earlier export there is
            replaced only once the new one is complete.
        ema: export these averaged weights instead of the model's own.

    Returns:
        The folder.
    """
    exported = exportable_denoiser(model, ema)
    return atomic_folder(folder, exported.save_pretrained, overwrite=True)


def assemble_pipeline(stage_one: str | os.PathLike, stage_two: str | os.PathLike,
                      output: str | os.PathLike, *, schedule: NoiseSchedule | None = None,
                      overwrite: bool = False) -> Path:
    """Joins two exported denoisers into a pipeline folder for `BinauralGradPipeline`.

    Example:
        >>> assemble_pipeline("runs/stage_one/denoiser", "runs/stage_two/denoiser",
        ...                   "runs/pipeline")
        >>> pipe = BinauralGradPipeline.from_pretrained("runs/pipeline")

    Args:
        stage_one, stage_two: folders (or Hub repo ids) written by `export_denoiser`.
        output: the pipeline folder to write.
        schedule: the noise schedule (the paper's by default, as training used).
        overwrite: replace an existing non-empty folder.

    Returns:
        The pipeline folder.
    """
    from binauralgrad.pipeline import BinauralGradPipeline

    first, second = load_denoiser(stage_one), load_denoiser(stage_two)
    for path, denoiser, stage in ((stage_one, first, 1), (stage_two, second, 2)):
        if denoiser.config.out_channels != stage:
            raise ValueError(f"{os.fspath(path)} holds a stage-{denoiser.config.out_channels} "
                             f"denoiser, but stage {stage} was expected there")
    pipeline = BinauralGradPipeline(first, second, schedule or NoiseSchedule())
    return pipeline.save_pretrained(output, overwrite=overwrite)


def push_denoiser(folder: str | os.PathLike, repo_id: str, *, token: str | None = None,
                  private: bool | None = None) -> str:
    """Uploads an exported denoiser folder to a Hub model repo (created if needed).

    Returns:
        The commit URL.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(repo_id=repo_id, folder_path=os.fspath(folder),
                               commit_message="Upload BinauralGrad denoiser")
    return str(getattr(commit, "commit_url", commit))
