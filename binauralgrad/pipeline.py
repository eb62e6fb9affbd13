"""BinauralGradPipeline: mono + positions -> geometric warp -> stage one (mean) -> stage two (ears)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from binauralgrad.audio_io import SAMPLE_RATE
from binauralgrad.dsp import geometric_warp
from binauralgrad.hub import resolve_file
from binauralgrad.inputs import prepare_inputs
from binauralgrad.models.denoiser import BinauralDenoiser, load_denoiser
from binauralgrad.schedule import NoiseSchedule

PIPELINE_FILE = "pipeline.json"
STAGE_FOLDERS = ("stage_one", "stage_two")

# Draws (B, C, T) unit Gaussian noise for the sampler; the pipeline's default uses a generator.
NoiseSource = Callable[[tuple[int, ...]], torch.Tensor]


@dataclass
class BinauralOutput:
    """The synthesised signals, trimmed to the input length.

    Attributes:
        audio: (2, T) or (B, 2, T) left and right ear.
        mean: (1, T) or (B, 1, T) stage one's estimate of the ears' mean.
        warped: (2, T) or (B, 2, T) the geometric warp (the DSP baseline).
        sample_rate: 48000.
    """

    audio: torch.Tensor
    mean: torch.Tensor
    warped: torch.Tensor
    sample_rate: int = SAMPLE_RATE


class BinauralGradPipeline:
    """The two-stage BinauralGrad synthesiser (paper Sec. 3).

    Example:
        >>> pipe = BinauralGradPipeline.from_pretrained("runs/pipeline")
        >>> out = pipe(mono, positions, generator=torch.Generator().manual_seed(0))
        >>> out.audio.shape          # (2, T): left, right at 48 kHz
    """

    def __init__(self, stage_one: BinauralDenoiser, stage_two: BinauralDenoiser,
                 schedule: NoiseSchedule | None = None):
        if stage_one.config.use_mean_condition or stage_one.config.out_channels != 1:
            raise ValueError("stage_one must predict one channel without a mean condition")
        if not stage_two.config.use_mean_condition or stage_two.config.out_channels != 2:
            raise ValueError("stage_two must predict two channels conditioned on the mean")
        self.stage_one = stage_one.eval()
        self.stage_two = stage_two.eval()
        self.schedule = schedule or NoiseSchedule()
        for stage in (stage_one, stage_two):
            if stage.config.num_train_steps != self.schedule.num_train_steps:
                raise ValueError(f"a denoiser has {stage.config.num_train_steps} step embeddings"
                                 f" but the schedule {self.schedule.num_train_steps} steps")

    @property
    def device(self) -> torch.device:
        return next(self.stage_one.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.stage_one.parameters()).dtype

    def to(self, device: str | torch.device | None = None,
           dtype: torch.dtype | None = None) -> BinauralGradPipeline:
        """Moves both denoisers (in place) and returns the pipeline."""
        for stage in (self.stage_one, self.stage_two):
            stage.to(device=device, dtype=dtype)
        return self

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike, *,
                        device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                        **download_kwargs) -> BinauralGradPipeline:
        """Loads a pipeline folder, or a Hub repo through the local cache; weights load strictly.

        Args:
            path_or_repo_id: a folder written by `save_pretrained`, or a Hub repo id.
            device, dtype: where and in which precision to run (default CPU, float32).
            download_kwargs: revision, cache_dir, token, local_files_only, force_download.
        """
        meta_file = resolve_file(path_or_repo_id, PIPELINE_FILE, **download_kwargs)
        try:
            meta = json.loads(meta_file.read_text())
            schedule = NoiseSchedule(**meta["schedule"])
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{meta_file} is not a binauralgrad pipeline file ({error})") from error
        stages = [load_denoiser(path_or_repo_id, subfolder=folder, device=device, **download_kwargs)
                  for folder in STAGE_FOLDERS]
        return cls(*stages, schedule).to(device, dtype)

    def save_pretrained(self, save_directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Writes `stage_one/`, `stage_two/` (config.json + model.safetensors) and pipeline.json.

        The folder is assembled beside the target and renamed into place, so an interrupted save
        never leaves a half-written pipeline; an existing folder is replaced only with `overwrite`.
        """
        target = Path(save_directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
            raise FileExistsError(f"{target} exists and is not empty; pass overwrite to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            self._write_folder(staging)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _write_folder(self, folder: Path) -> None:
        from binauralgrad import __version__

        for name, stage in zip(STAGE_FOLDERS, (self.stage_one, self.stage_two)):
            stage.save_pretrained(folder / name)
        meta = {"_class_name": type(self).__name__, "binauralgrad_version": __version__,
                "sample_rate": SAMPLE_RATE, "schedule": self.schedule.to_dict()}
        (folder / PIPELINE_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        (folder / "README.md").write_text(_model_card(self))

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload BinauralGrad pipeline", revision: str | None = None):
        """Uploads the pipeline folder to a Hub model repo (created if needed); returns the commit."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(Path(folder) / "pipeline")
            return api.upload_folder(repo_id=repo_id, folder_path=Path(folder) / "pipeline",
                                     commit_message=commit_message, revision=revision)

    @torch.inference_mode()
    def __call__(self, mono, positions, *, generator: torch.Generator | None = None,
                 fast: bool = True, progress: bool = True, return_dict: bool = True):
        """Synthesises binaural audio.

        Args:
            mono: (T,), (1, T) or (B, T) 48 kHz audio, tensor or ndarray.
            positions: (K, 7) or (B, K, 7) 120 Hz rows `x y z qx qy qz qw`, K = ceil(T / 400).
            generator: the source of all sampling noise (same seed, same audio).
            fast: the 6-step fast schedule (default) or all 200 training steps.
            progress: show a progress bar over the denoising steps.
            return_dict: return a BinauralOutput, else the audio tensor alone.

        Returns:
            BinauralOutput with audio (2, T), or (B, 2, T) for batched input.
        """
        inputs = prepare_inputs(mono, positions, device=self.device)
        warped = geometric_warp(inputs.mono, inputs.positions)
        conditions = {"warped": warped, "mono": inputs.mono, "positions": inputs.positions}
        conditions = {key: value.to(self.dtype) for key, value in conditions.items()}
        steps = self.schedule.sampling_steps(fast)
        noise = _generator_noise(generator, self.device)
        with tqdm(total=2 * len(steps), desc="BinauralGrad", disable=not progress) as bar:
            mean = self._sample(self.stage_one, conditions, fast, noise, bar.update)
            audio = self._sample(self.stage_two, {**conditions, "mean": mean}, fast, noise,
                                 bar.update)
        output = BinauralOutput(audio=audio, mean=mean, warped=warped)
        for field in ("audio", "mean", "warped"):
            value = getattr(output, field)[..., : inputs.length].float()
            setattr(output, field, value if inputs.batched else value[0])
        return output if return_dict else output.audio

    def _sample(self, denoiser: BinauralDenoiser, conditions: dict[str, torch.Tensor], fast: bool,
                noise: NoiseSource, on_step: Callable[[], object] = lambda: None) -> torch.Tensor:
        """Ancestral sampling of one stage (paper Algorithm 2) from unit Gaussian noise."""
        condition = denoiser.encode_condition(**conditions)
        batch, length = condition.shape[0], condition.shape[-1]
        sample = noise((batch, denoiser.config.out_channels, length)).to(self.dtype)
        for step in self.schedule.sampling_steps(fast):
            timestep = torch.tensor([step.timestep], device=self.device,
                                    dtype=torch.float32 if fast else torch.long)
            predicted = denoiser.denoise(sample, timestep, condition, return_aux=False).sample
            fresh = noise(sample.shape).to(self.dtype) if step.sigma > 0 else None
            sample = self.schedule.reverse_step(sample, predicted, step, fresh)
            on_step()
        return sample


def _generator_noise(generator: torch.Generator | None, device: torch.device) -> NoiseSource:
    # Draw where the generator lives, so that a CPU generator gives the same audio on any device.
    source_device = generator.device if generator is not None else device

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=source_device).to(device)

    return draw


def _model_card(pipeline: BinauralGradPipeline) -> str:
    sizes = {name: stage.config for name, stage in
             zip(STAGE_FOLDERS, (pipeline.stage_one, pipeline.stage_two))}
    lines = [
        "---", "library_name: binauralgrad", "tags: [audio, binaural, diffusion, speech]", "---",
        "# BinauralGrad pipeline", "",
        "Two-stage conditional diffusion for mono-to-binaural speech (Leng et al., NeurIPS 2022).",
        "", "```python", "from binauralgrad import BinauralGradPipeline",
        "pipe = BinauralGradPipeline.from_pretrained(\"<this repo or folder>\")",
        "out = pipe(mono, positions)  # mono (T,) at 48 kHz, positions (T // 400, 7) at 120 Hz",
        "```", "",
    ]
    lines += [f"- `{name}`: {config.residual_layers} layers, {config.residual_channels} channels"
              for name, config in sizes.items()]
    return "\n".join(lines) + "\n"
