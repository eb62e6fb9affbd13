"""The Accelerate training loop for either stage: one CPU to many GPUs and nodes."""

from __future__ import annotations

import json
import math
import signal
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration
from tqdm.auto import tqdm

from binauralgrad.models.denoiser import BinauralDenoiser
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training import checkpoints as ckpt
from binauralgrad.training.config import TrainingConfig
from binauralgrad.training.data import build_loader
from binauralgrad.training.ema import ExponentialMovingAverage
from binauralgrad.training.export import export_denoiser, push_denoiser
from binauralgrad.training.losses import TERM_NAMES, diffusion_loss
from binauralgrad.training.monitors import SignalFlag, Throughput

logger = get_logger(__name__)
DENOISER_FOLDER = "denoiser"
METRICS_FILE = "metrics.jsonl"  # every logged value, one JSON object per line (main process)


# A learned head is a linear fit with a well-scaled loss: it takes larger steps safely, and at
# the denoiser's rate it would still be moving towards its fit when the schedule has decayed.
HEAD_LEARNING_RATE_FACTOR = 3.0


def parameter_groups(model: BinauralDenoiser, learning_rate: float) -> list[dict]:
    """The optimiser's groups: the denoiser, and its learned head at a higher rate if it has one."""
    if model.learned_head is None:
        return [{"params": list(model.parameters())}]
    head = list(model.learned_head.parameters())
    rest = [parameter for name, parameter in model.named_parameters()
            if not name.startswith("learned_head.")]
    return [{"params": rest}, {"params": head, "lr_factor": HEAD_LEARNING_RATE_FACTOR,
                                "lr": learning_rate * HEAD_LEARNING_RATE_FACTOR}]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or inf; the step was not applied and the last checkpoint is intact."""


@dataclass
class TrainingResult:
    """How a run ended.

    Attributes:
        step: optimizer steps completed.
        stopped_by_signal: SIGTERM stopped the run early (after checkpointing).
        losses: the last step's terms (`train/loss`, `train/mse_main`, ...), over all processes.
        checkpoint: the final checkpoint folder.
        export_dir: the exported denoiser (`output_dir/denoiser`).
    """

    step: int
    stopped_by_signal: bool = False
    losses: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    export_dir: Path | None = None


def train(config: TrainingConfig) -> TrainingResult:
    """Trains one stage as `config` says; run under `accelerate launch` for several processes.

    Example:
        >>> train(TrainingConfig(stage=1, data_dir="data/trainset", output_dir="runs/stage_one"))
    """
    return Trainer(config).run()


class Trainer:
    """One run: Accelerator, model, optimizer, data, EMA, counters; `run()` trains to max_steps."""

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision, log_with=config.log_with or None,
            project_dir=str(self.output_dir),
            # One DataLoader batch is one micro-step of the global batch; each process gets its
            # slice, so the items of a step do not depend on the number of processes.
            dataloader_config=DataLoaderConfiguration(split_batches=True))
        micro, processes = config.micro_batch_size, self.accelerator.num_processes
        if micro % processes:
            raise ValueError(f"batch_size {config.batch_size} / gradient_accumulation_steps "
                             f"{config.gradient_accumulation_steps} = {micro} items per micro-step"
                             f" cannot be split evenly over {processes} processes")
        self.schedule = NoiseSchedule()
        self.state = ckpt.TrainerState(seed=config.seed, stage=config.stage)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
            torch.manual_seed(config.seed)
            model = BinauralDenoiser(config.denoiser_config())
        optimizer = torch.optim.Adam(parameter_groups(model, config.learning_rate),
                                     lr=config.learning_rate)
        self.sampler, loader = build_loader(config, self.schedule)
        self.model, self.optimizer, self.loader = self.accelerator.prepare(model, optimizer, loader)
        self._validation_batch: dict[str, torch.Tensor] | None = None  # loaded on first use
        self.ema = None
        if config.ema_decay is not None:
            self.ema = ExponentialMovingAverage(self.unwrapped, config.ema_decay)

    def _gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` concatenated over processes, gradient only through this process's part."""
        processes = self.accelerator.num_processes
        if processes == 1:
            return tensor
        parts = list(self.accelerator.gather(tensor.detach().contiguous()).chunk(processes))
        parts[self.accelerator.process_index] = tensor
        return torch.cat(parts)

    @property
    def unwrapped(self) -> BinauralDenoiser:
        return self.accelerator.unwrap_model(self.model)

    def run(self) -> TrainingResult:
        """Trains until `max_steps` or SIGTERM; checkpoints, exports and (optionally) pushes."""
        config, accelerator = self.config, self.accelerator
        self._start()
        result = TrainingResult(step=self.state.step)
        stop = SignalFlag(signal.SIGTERM)
        bar = tqdm(total=config.max_steps, initial=self.state.step, desc=f"stage {config.stage}",
                   disable=not (config.progress and accelerator.is_main_process))
        meter = Throughput(self.state.step)
        batches = self._batches()
        try:
            while self.state.step < config.max_steps and not result.stopped_by_signal:
                terms, grad_norm, result.stopped_by_signal = self._train_step(batches, stop)
                self.state.step += 1
                bar.update(1)
                result.losses = {f"train/{name}": float(value)
                                 for name, value in zip(TERM_NAMES, terms, strict=True)}
                self._after_step(result, grad_norm, meter, bar)
        finally:
            stop.restore()
            bar.close()
        if result.stopped_by_signal:
            logger.info(f"SIGTERM: stopped after step {self.state.step}", main_process_only=True)
        result.step = self.state.step
        result.checkpoint = self._checkpoint()
        result.export_dir = self._export()
        accelerator.end_training()
        return result

    def _start(self) -> None:
        """Resumes from a checkpoint, or starts fresh in a folder without one."""
        config, accelerator = self.config, self.accelerator
        saved = ckpt.restore(accelerator, self.output_dir, config.resume, stage=config.stage,
                             seed=config.seed, ema=self.ema)
        if saved is not None:
            self.state = saved
            logger.info(f"resumed ({config.resume}) at step {saved.step}", main_process_only=True)
        if accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            config.save(self.output_dir / "training_config.json")
        if config.log_with:
            values = {key: value if isinstance(value, (int, float, str, bool)) else str(value)
                      for key, value in config.to_dict().items()}
            accelerator.init_trackers(f"binauralgrad_stage_{config.stage}", config=values)

    def _batches(self):
        """Micro-batches from the saved data position on, epoch after epoch."""
        while True:
            # Accelerate's loader re-applies its own epoch counter when iterated; set both.
            self.loader.set_epoch(self.state.epoch)
            self.sampler.set_epoch(self.state.epoch)
            loader = self.loader
            if self.state.batches_in_epoch:
                loader = self.accelerator.skip_first_batches(self.loader,
                                                             self.state.batches_in_epoch)
                self.sampler.set_epoch(self.state.epoch)
            for batch in loader:
                self.state.batches_in_epoch += 1
                yield batch
            self.state.epoch += 1
            self.state.batches_in_epoch = 0

    def _train_step(self, batches, stop: SignalFlag) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """One optimizer step over `gradient_accumulation_steps` micro-batches.

        Returns:
            The loss terms averaged over processes (4,), the gradient norm before clipping, and
            whether any process was asked to stop.
        """
        config, accelerator = self.config, self.accelerator
        steps = config.gradient_accumulation_steps
        terms = torch.zeros(len(TERM_NAMES), device=accelerator.device)
        for micro in range(steps):
            batch = next(batches)
            # Gradients are all-reduced once per optimizer step, on the last micro-batch.
            with accelerator.no_sync(self.model) if micro < steps - 1 else nullcontext():
                loss = diffusion_loss(self.model, batch, batch["timesteps"], batch["noise"],
                                      self.schedule, stage=config.stage,
                                      lambda_phase=config.lambda_phase, gather=self._gather,
                                      lambda_clean=config.lambda_clean,
                                      lambda_mrstft=config.lambda_mrstft)
                accelerator.backward(loss.total / steps)
            terms += loss.stacked() / steps
        # One collective per step carries the loss (for logging and the NaN check on every
        # process alike) and the stop flag (a signal on any process stops all of them).
        shared = accelerator.reduce(torch.cat([terms, terms.new_tensor([float(stop.raised)])]),
                                    reduction="mean")
        if not torch.isfinite(shared[:-1]).all():
            latest = ckpt.latest_checkpoint(self.output_dir / ckpt.CHECKPOINTS)
            raise NonFiniteLossError(
                f"non-finite loss at step {self.state.step + 1} ({', '.join(TERM_NAMES)} = "
                f"{shared[:-1].tolist()}); the step was not applied; last good "
                f"checkpoint: {latest or 'none yet'}")
        grad_norm = accelerator.clip_grad_norm_(self.model.parameters(),
                                                config.max_grad_norm or math.inf)
        # A pure function of the step, so a resumed run continues the schedule exactly.
        for group in self.optimizer.param_groups:
            group["lr"] = config.learning_rate_at(self.state.step) * group.get("lr_factor", 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.unwrapped)
        return shared[:-1].cpu(), torch.as_tensor(grad_norm).float().cpu(), bool(shared[-1] > 0)

    def _after_step(self, result: TrainingResult, grad_norm, meter, bar) -> None:
        config, step = self.config, self.state.step
        if step % config.log_every == 0 or step == 1:
            values = {**result.losses, "train/grad_norm": float(grad_norm),
                      "train/lr": self.optimizer.param_groups[0]["lr"],
                      **meter.rates(step, config.batch_size)}
            self._log(values)
            bar.set_postfix(loss=f"{result.losses['train/loss']:.4f}")
        if config.validate_every and step % config.validate_every == 0:
            self._log(self._validate())
            self._plot_curves()
        if step % config.checkpoint_every == 0 and step < config.max_steps and \
                not result.stopped_by_signal:
            self._checkpoint()

    def _log(self, values: dict[str, float]) -> None:
        if not values:
            return
        self.accelerator.log(values, step=self.state.step)
        if self.accelerator.is_main_process:
            with open(self.output_dir / METRICS_FILE, "a") as handle:
                handle.write(json.dumps({"step": self.state.step, **values}) + "\n")

    def _validate(self) -> dict[str, float]:
        from binauralgrad.training.validation import (
            baseline_scores,
            load_validation_batch,
            prior_scores,
            validate,
        )

        values = {}
        if self.accelerator.is_main_process:
            if self._validation_batch is None:
                self._validation_batch = load_validation_batch(self.config)
                # Once per run: the DSP baseline and the model's prior alone on the same
                # clips, the learning curves' reference levels.
                values = baseline_scores(self._validation_batch, stage=self.config.stage)
                values.update(prior_scores(self.unwrapped, self._validation_batch,
                                           stage=self.config.stage))
            denoiser = self.unwrapped
            if self.ema is not None:  # score the weights that will be exported
                from binauralgrad.training.export import exportable_denoiser

                denoiser = exportable_denoiser(denoiser, self.ema).to(self.accelerator.device)
            # A learned head changes as it trains: its curve, beside the model's.
            values.update(prior_scores(denoiser, self._validation_batch,
                                       stage=self.config.stage, learned=True))
            sampling = NoiseSchedule(temperature=self.config.validation_temperature)
            values.update(validate(denoiser, sampling, self._validation_batch,
                                   stage=self.config.stage, seed=self.config.seed))
        self.accelerator.wait_for_everyone()
        return values

    def _plot_curves(self) -> None:
        """Redraws learning_curves.png from metrics.jsonl (main process; needs matplotlib)."""
        if not self.accelerator.is_main_process:
            return
        try:
            from binauralgrad.training.curves import CURVES_FILE, plot_learning_curves

            plot_learning_curves(self.output_dir / METRICS_FILE, self.output_dir / CURVES_FILE,
                                 title=f"stage {self.config.stage}: {self.output_dir}")
        except ImportError as error:  # matplotlib comes with the eval extra
            logger.warning(f"no learning-curve figure: {error}", main_process_only=True)

    def _checkpoint(self) -> Path:
        folder = ckpt.checkpoint_name(self.state.step)
        existing = self.output_dir / ckpt.CHECKPOINTS / folder
        if (existing / ckpt.TRAINER_STATE).is_file():
            return existing  # this step is saved already (e.g. the final step was a multiple)
        return ckpt.save_checkpoint(self.accelerator, self.output_dir, self.state,
                                    self.config.keep_checkpoints, extra=self._export_into)

    def _training_info(self) -> dict:
        return {**self.config.to_dict(), "steps_done": self.state.step}

    def _export_into(self, folder: Path) -> None:
        export_denoiser(self.unwrapped, folder / DENOISER_FOLDER, self.ema, self._training_info())
        if self.ema is not None:
            self.ema.save(folder)

    def _export(self) -> Path:
        target = self.output_dir / DENOISER_FOLDER
        if self.accelerator.is_main_process:
            export_denoiser(self.unwrapped, target, self.ema, self._training_info())
            if self.config.push_to_hub:
                url = push_denoiser(target, self.config.push_to_hub)
                logger.info(f"pushed {target} to {url}", main_process_only=True)
        self.accelerator.wait_for_everyone()
        return target
