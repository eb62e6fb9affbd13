"""BinauralGradPipeline: mono + positions -> geometric warp -> stage one (mean) -> stage two."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from binauralgrad.constants import (
    DEFAULT_CROSSFADE_S,
    DEFAULT_OVERLAP_S,
    SAMPLE_RATE,
    STAGE_FOLDERS,
)
from binauralgrad.dsp import geometric_warp
from binauralgrad.inference import (
    BufferPool,
    PositionalNoise,
    WavefrontOptions,
    pipeline_reach,
    sample_reference,
    sample_wavefront,
)
from binauralgrad.inputs import prepare_inputs, resolve_sampling
from binauralgrad.io.atomic import atomic_folder
from binauralgrad.io.cards import pipeline_card
from binauralgrad.io.hub import resolve_file
from binauralgrad.models.denoiser import BinauralDenoiser, load_denoiser
from binauralgrad.rooms import RoomHeads, load_rooms, save_rooms, use_room
from binauralgrad.schedule import NoiseSchedule

PIPELINE_FILE = "pipeline.json"


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
                 schedule: NoiseSchedule | None = None, info: dict | None = None,
                 rooms: dict[str, RoomHeads] | None = None):
        """Args: the two stages, the noise schedule (the paper's by default), `info`, facts
        kept in pipeline.json and stated in the model card (see `binauralgrad.io.cards`), and
        `rooms`, learned heads for other kinds of room (`binauralgrad.rooms`)."""
        if stage_one.config.use_mean_condition or stage_one.config.out_channels != 1:
            raise ValueError("stage_one must predict one channel without a mean condition")
        if not stage_two.config.use_mean_condition or stage_two.config.out_channels != 2:
            raise ValueError("stage_two must predict two channels conditioned on the mean")
        self.stage_one = stage_one.eval()
        self.stage_two = stage_two.eval()
        self.schedule = schedule or NoiseSchedule()
        self.info = dict(info or {})
        self.rooms = dict(rooms or {})
        self._room, self._trained_heads = None, None
        self._buffers = BufferPool()  # the wavefront's large buffers, kept for the next call
        for stage in (stage_one, stage_two):
            if stage.config.num_train_steps != self.schedule.num_train_steps:
                raise ValueError(f"a denoiser has {stage.config.num_train_steps} step embeddings"
                                 f" but the schedule {self.schedule.num_train_steps} steps")

    @property
    def stages(self) -> tuple[BinauralDenoiser, BinauralDenoiser]:
        return self.stage_one, self.stage_two

    @property
    def fast_steps(self) -> int:
        """Reverse steps per stage of the default sampling (`steps="fast"`): 6, the paper's,
        unless set lower. Kept in pipeline.json, so a saved pipeline samples as it was saved."""
        return self.schedule.fast_steps

    @fast_steps.setter
    def fast_steps(self, count: int) -> None:
        self.schedule = replace(self.schedule, fast_steps=count)  # validated by the schedule

    @property
    def room(self) -> str | None:
        """The kind of room the learned heads are for: None, the one the stages were trained
        in, or a name in `rooms` (heads fitted with `binauralgrad fit-head --room`). Set it
        before sampling or streaming; kept in pipeline.json."""
        return self._room

    @room.setter
    def room(self, name: str | None) -> None:
        self._trained_heads = use_room(self.stages, self.rooms, name, self._trained_heads)
        self._room = name

    @property
    def sampling_schedule(self) -> NoiseSchedule:
        """The schedule `pipe(...)` and the stream sample with: `schedule`, at the room's own
        temperature where the room in place has one."""
        room = self.rooms[self._room] if self._room is not None else None
        if room is None or room.temperature is None:
            return self.schedule
        return replace(self.schedule, temperature=room.temperature)

    @torch.inference_mode()
    def prior_alone(self, mono, positions, *, learned: bool = False) -> torch.Tensor:
        """What the stages' DSP priors alone say: the output of denoisers that learnt nothing.

        Stage one's prior mean, then stage two's prior mean given it (`binauralgrad.prior`):
        for the embedded models, each ear's warp with its 1 / r spreading, times the gain. Every
        quality table shows it beside the model, so that the prior's gain over the warp is not
        mistaken for the model's. Zero for the paper's stages (they have no prior).

        Args:
            mono, positions: as for `__call__`.
            learned: with the stages' learned heads (`PriorConfig.head_taps`), if they have
                them: the learned part that needs no sampling, without the denoisers.

        Returns:
            (2, T), or (B, 2, T) for batched input.
        """
        inputs = prepare_inputs(mono, positions, device=self.device)
        conditions = {"warped": geometric_warp(inputs.mono, inputs.positions),
                      "mono": inputs.mono, "positions": inputs.positions, "learned": learned}
        first = self.stage_one.prior(**conditions).decode(torch.zeros_like(inputs.mono))
        both = self.stage_two.prior(**conditions, mean=first)
        both = both.decode(torch.zeros_like(conditions["warped"]))[..., : inputs.length].float()
        return both if inputs.batched else both[0]

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
        self._buffers.clear()
        return self

    @property
    def held_buffer_bytes(self) -> int:
        """Bytes of the fast path's buffers kept from the last call for the next one.

        A call's large buffers (at paper size mostly the conditioner cache, about 1.5 GB for
        0.5 s) stay with the pipeline, because allocating them afresh costs every page a fault
        again, and on some machines that is as slow as the arithmetic. At most what the last
        call used (`max_memory_mb` bounds it); `release_buffers()` lets them go.
        """
        return self._buffers.nbytes

    def release_buffers(self) -> None:
        """Lets go of the buffers kept from the last call (`held_buffer_bytes`)."""
        self._buffers.clear()

    def __copy__(self) -> BinauralGradPipeline:
        """`copy.copy`: a pipeline on the same stages, schedule and room, with buffers of its
        own (two settings called in turns then each keep theirs)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._buffers = BufferPool()
        return clone

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
            info = dict(meta.get("info") or {})
            listed, room = dict(meta.get("rooms") or {}), meta.get("room")
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{meta_file} is not a binauralgrad pipeline file ({error})") \
                from error
        stages = [load_denoiser(path_or_repo_id, subfolder=folder, device=device,
                                **download_kwargs)
                  for folder in STAGE_FOLDERS]
        pipeline = cls(*stages, schedule, info,
                       load_rooms(path_or_repo_id, listed, **download_kwargs)).to(device, dtype)
        pipeline.room = room
        return pipeline

    def save_pretrained(self, save_directory: str | os.PathLike, *,
                        overwrite: bool = False) -> Path:
        """Writes `stage_one/`, `stage_two/` (config.json + model.safetensors) and pipeline.json.

        The folder is assembled beside the target and renamed into place, so an interrupted save
        never leaves a half-written pipeline; an existing folder is replaced only with `overwrite`.
        """
        return atomic_folder(save_directory, self._write_folder, overwrite=overwrite)

    def _write_folder(self, folder: Path) -> None:
        from binauralgrad import __version__

        room, self.room = self.room, None  # the stage folders keep their trained heads
        try:
            for name, stage in zip(STAGE_FOLDERS, self.stages, strict=True):
                # The stage's card states its recipe when the pipeline knows it.
                stage.training_info = (self.info.get("training") or {}).get(name)
                stage.save_pretrained(folder / name)
        finally:
            self.room = room
        meta = {"_class_name": type(self).__name__, "binauralgrad_version": __version__,
                "sample_rate": SAMPLE_RATE, "schedule": self.schedule.to_dict(),
                "info": self.info, "rooms": save_rooms(folder, self.rooms), "room": room}
        (folder / PIPELINE_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        configs = {name: stage.config for name, stage in
                   zip(STAGE_FOLDERS, (self.stage_one, self.stage_two), strict=True)}
        (folder / "README.md").write_text(pipeline_card(
            configs, self.info, fast_steps=self.fast_steps,
            temperature=self.schedule.temperature, rooms=meta["rooms"], room=room))

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload BinauralGrad pipeline",
                    revision: str | None = None):
        """Uploads the pipeline folder to a Hub model repo (made if need be); returns the commit."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(Path(folder) / "pipeline")
            return api.upload_folder(repo_id=repo_id, folder_path=Path(folder) / "pipeline",
                                     commit_message=commit_message, revision=revision)

    @torch.inference_mode()
    def __call__(self, mono, positions, *, generator: torch.Generator | None = None,
                 steps: str | int = "fast", progress: bool = True, return_dict: bool = True,
                 implementation: str = "wavefront", dtype: torch.dtype | None = None,
                 tile_seconds: float | None = None, chunk_seconds: float | None = None,
                 overlap_seconds: float | None = None, crossfade_seconds: float | None = None,
                 max_memory_mb: float | None = None, compile: bool | None = None,
                 fast: bool | None = None):
        """Synthesises binaural audio.

        Args:
            mono: (T,), (1, T) or (B, T) 48 kHz audio, tensor or ndarray.
            positions: (K, 7) or (B, K, 7) 120 Hz rows `x y z qx qy qz qw`, K = ceil(T / 400).
            generator: the source of all sampling noise (same seed, same audio). One 64-bit seed
                is drawn from it; the noise is then a function of the absolute sample position,
                so every implementation and chunking draws the same noise.
            steps: "fast", the fast schedule with `fast_steps` steps per stage (default: the
                paper's 6 unless the pipeline was saved with fewer), a number of fast steps (1 to
                6: see `NoiseSchedule.fast_schedule_betas`), or "full", all 200 training steps.
            progress: show a progress bar.
            return_dict: return a BinauralOutput, else the tuple (audio,).
            implementation: "wavefront" (default): both stages, all steps and layers as one
                wavefront of tiles over time, each sample computed once, memory flat in T,
                output equal to the reference up to float rounding. "reference": the
                straightforward loop, each pass over the whole input (the yardstick); the
                options below apply to the wavefront only, and the reference refuses them.
            dtype: compute dtype of the fast path (default: the pipeline's); bfloat16 or float16
                on GPU, bfloat16 on CPUs with native support (else float32, with a warning).
            tile_seconds: samples a wavefront tile covers (default: on CPU, what measured
                fastest on this machine, see `binauralgrad.inference.tuning`; 5.5 s on GPU),
                lowered if `max_memory_mb` asks.
            chunk_seconds: if given, cut the input into chunks of this length, each sampled
                with `overlap_seconds` of context each side (several chunks per batch) and joined
                with a `crossfade_seconds` cross-fade. With overlap >= `receptive_field_seconds`
                + crossfade / 2 the joins are exact; shorter overlaps come close.
            max_memory_mb: working-memory budget: sets the tile (and, with chunks, how many
                chunks run per batch); the conditioner cache is dropped if nothing else fits.
            compile: deprecated and ignored (the compiled gate was slower or even on every CPU
                measured, so the fast path no longer has one).
            fast: deprecated spelling of `steps` (True: "fast", False: "full").

        Returns:
            BinauralOutput with audio (2, T), or (B, 2, T) for batched input.
        """
        steps, implementation = resolve_sampling(steps, fast, implementation, {
            "dtype": dtype, "tile_seconds": tile_seconds, "chunk_seconds": chunk_seconds,
            "overlap_seconds": overlap_seconds, "crossfade_seconds": crossfade_seconds,
            "max_memory_mb": max_memory_mb})
        if compile is not None:
            warnings.warn("`compile=` is deprecated and has no effect: the fast path no longer "
                          "compiles its gate (it was no faster)", DeprecationWarning, stacklevel=2)
        inputs = prepare_inputs(mono, positions, device=self.device)
        warped = geometric_warp(inputs.mono, inputs.positions)
        noise = PositionalNoise.from_generator(generator)
        stages = (self.stage_one, self.stage_two, self.sampling_schedule, inputs.mono,
                  inputs.positions, warped, noise)
        if implementation == "reference":
            mean, audio = sample_reference(*stages, steps=steps, progress=progress)
        else:
            options = WavefrontOptions(dtype=dtype or self.dtype, tile_seconds=tile_seconds,
                                  chunk_seconds=chunk_seconds,
                                  overlap_seconds=_default(overlap_seconds, DEFAULT_OVERLAP_S),
                                  crossfade_seconds=_default(crossfade_seconds,
                                                             DEFAULT_CROSSFADE_S),
                                  max_memory_mb=max_memory_mb)
            mean, audio = sample_wavefront(*stages, steps=steps, progress=progress,
                                           options=options, buffers=self._buffers)
        output = BinauralOutput(audio=audio, mean=mean, warped=warped)
        for field in ("audio", "mean", "warped"):
            value = getattr(output, field)[..., : inputs.length].float()
            setattr(output, field, value if inputs.batched else value[0])
        return output if return_dict else (output.audio,)

    def stream(self, *, generator: torch.Generator | None = None, steps: str | int = "fast",
               dtype: torch.dtype | None = None, tile_seconds: float | None = None,
               max_skew_frames: int = 12, overlap: bool | None = None):
        """A `BinauralStream`: push audio and rows as they arrive, get both ears back.

        Its concatenated output equals `pipe(mono, positions)` for the same generator, at a
        fixed delay of `stream.latency_samples`, and a push more where its stages overlap
        (`overlap`: see `binauralgrad.inference.stream.BinauralStream`).

        Example:
            >>> stream = pipe.stream(generator=torch.Generator().manual_seed(0))
            >>> left_right = stream.push(mono[:480], positions[:2])   # (2, n), n may be 0
            >>> rest = stream.flush()
        """
        from binauralgrad.inference.stream import BinauralStream

        return BinauralStream(self, generator=generator, steps=steps, dtype=dtype,
                              tile_seconds=tile_seconds, max_skew_frames=max_skew_frames,
                              overlap=overlap)

    def receptive_field_seconds(self, steps: str | int = "fast") -> float:
        """How far (each side) an output sample depends on the input: the exact chunk overlap.

        Args:
            steps: as for `__call__` (True / False: the deprecated spelling of "fast" / "full").
        """
        count = len(self.schedule.sampling_steps(steps))
        configs = [self.stage_one.config, self.stage_two.config]
        return pipeline_reach(configs, count) / SAMPLE_RATE


def _default(value, default):
    return default if value is None else value
