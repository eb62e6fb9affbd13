"""Exporting a trained denoiser (save_pretrained, EMA weights if kept); assembling a pipeline."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from binauralgrad.io.atomic import atomic_folder
from binauralgrad.io.cards import portable_recipe
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


TRAINING_FILE = "training_config.json"  # the recipe, beside an exported denoiser


def export_denoiser(model: BinauralDenoiser, folder: str | os.PathLike,
                    ema: ExponentialMovingAverage | None = None,
                    training: dict | None = None) -> Path:
    """Writes `config.json` + `model.safetensors` (+ README.md) into `folder`, atomically.

    Args:
        model: the unwrapped denoiser.
        folder: the export folder (e.g. `runs/stage_one/denoiser`); an earlier export there is
            replaced only once the new one is complete.
        ema: export these averaged weights instead of the model's own.
        training: the run's TrainingConfig values (with the steps done), written beside the
            weights as training_config.json and stated in the model card.

    Returns:
        The folder.
    """
    exported = exportable_denoiser(model, ema)
    training = portable_recipe(training)  # no machine's absolute paths in a shared model
    exported.training_info = training

    def write(staging: Path) -> None:
        exported.save_pretrained(staging)
        if training is not None:
            (staging / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n")

    return atomic_folder(folder, write, overwrite=True)


def read_training_info(folder: str | os.PathLike) -> dict | None:
    """The recipe saved beside an exported denoiser in a local folder, if any."""
    path = Path(folder) / TRAINING_FILE
    return portable_recipe(json.loads(path.read_text())) if path.is_file() else None


def assemble_pipeline(stage_one: str | os.PathLike, stage_two: str | os.PathLike,
                      output: str | os.PathLike, *, schedule: NoiseSchedule | None = None,
                      info: dict | None = None, overwrite: bool = False) -> Path:
    """Joins two exported denoisers into a pipeline folder for `BinauralGradPipeline`.

    Example:
        >>> assemble_pipeline("runs/stage_one/denoiser", "runs/stage_two/denoiser",
        ...                   "runs/pipeline")
        >>> pipe = BinauralGradPipeline.from_pretrained("runs/pipeline")

    Args:
        stage_one, stage_two: folders (or Hub repo ids) written by `export_denoiser`.
        output: the pipeline folder to write.
        schedule: the noise schedule (the paper's by default, as training used).
        info: facts for pipeline.json and the model card ("description", "evaluation"); each
            stage's recipe is read from its export's training_config.json.
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
    training = {name: read_training_info(path) for name, path in
                (("stage_one", stage_one), ("stage_two", stage_two))}
    info = {**(info or {}), "training": {name: values for name, values in training.items()
                                         if values is not None}}
    pipeline = BinauralGradPipeline(first, second, schedule or NoiseSchedule(), info=info)
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
