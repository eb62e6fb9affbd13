"""Shows that training learns: a tiny model fits one short synthetic clip in a few hundred steps.

    python examples/learning_curve.py --steps 500

It simulates one short sequence, trains the tiny model on a single clip of it through the real
loop (Accelerate, checkpoints, export), and prints the loss on a fixed set of diffusion steps
and noises before and after, plus the logged training loss at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.data import load_binaural_dataset
from binauralgrad.data.sequence import BINAURAL, MONO, TX_POSITIONS
from binauralgrad.data.synthetic import make_synthetic_dataset
from binauralgrad.io.audio import read_wav, write_wav
from binauralgrad.io.positions import read_positions, write_positions
from binauralgrad.models.denoiser import load_denoiser
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training import Trainer, TrainingConfig, diffusion_loss
from binauralgrad.training.data import TrainingCollator


def fixed_losses(model, batch: dict, stage: int, draws: int = 20) -> dict[int, float]:
    """The loss at `draws` evenly spaced diffusion steps, each with its own fixed noise."""
    generator = torch.Generator().manual_seed(1234)
    losses = {}
    with torch.no_grad():
        for step in torch.linspace(0, 199, draws).round().long().tolist():
            noise = torch.randn(batch["noise"].shape, generator=generator)
            losses[step] = float(diffusion_loss(model, batch, torch.tensor([step]), noise,
                                                NoiseSchedule(), stage=stage).total)
    return losses


def write_loudest_clip(sequence: Path, target: Path, clip_length: int) -> None:
    """Writes the sequence's loudest 400-aligned clip as a sequence folder of its own."""
    binaural = read_wav(sequence / BINAURAL, channels=2)
    positions = read_positions(sequence / TX_POSITIONS, num_samples=binaural.shape[-1])
    frames = clip_length // FRAME_SAMPLES
    energy = torch.from_numpy(binaural).pow(2).sum(0).unfold(0, clip_length, FRAME_SAMPLES).sum(1)
    first = int(energy.argmax())
    start = first * FRAME_SAMPLES
    window = slice(start, start + clip_length)
    write_wav(target / MONO, read_wav(sequence / MONO, channels=1)[:, window], overwrite=True)
    write_wav(target / BINAURAL, binaural[:, window], overwrite=True)
    write_positions(target / TX_POSITIONS, positions[first:first + frames], overwrite=True)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains, prints the losses; returns the mean fixed-noise loss before and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default: 500)")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=1,
                        help="which stage learns (default: 1)")
    parser.add_argument("--clip-length", type=int, default=8000,
                        help="samples of the one clip, a multiple of 400 (default: 8000)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's learning rate (default: 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    parser.add_argument("--work-dir", help="keep data and run here (default: a temp folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(args.work_dir or temporary)
        make_synthetic_dataset(root / "data", train_minutes=0.05, test_minutes=0.05,
                               sequences=1, seed=args.seed, overwrite=True, progress=False)
        # A data set of one sequence exactly one clip long (speech, not a pause): one row.
        write_loudest_clip(root / "data" / "trainset" / "subject1", root / "clip" / "clip1",
                           args.clip_length)
        config = TrainingConfig(
            stage=args.stage, data_dir=str(root / "clip"),
            output_dir=str(root / f"run_{time.time_ns()}"), model_config="tiny",
            max_steps=args.steps, batch_size=1, learning_rate=args.learning_rate,
            clip_length=args.clip_length, chunk_length=args.clip_length,
            hop_length=args.clip_length,
            checkpoint_every=args.steps, log_every=10, num_workers=0, seed=args.seed,
            progress=False)
        rows = load_binaural_dataset(config.data_dir, chunk_length=config.chunk_length,
                                     hop_length=config.hop_length)
        model_config = config.denoiser_config()
        collate = TrainingCollator(config.clip_length, model_config.out_channels, 200)
        batch = collate([{**rows[0], "item_seed": 0}])

        trainer = Trainer(config)
        before = fixed_losses(trainer.unwrapped.eval(), batch, args.stage)
        trainer.unwrapped.train()
        start = time.perf_counter()
        result = trainer.run()
        seconds = time.perf_counter() - start
        after = fixed_losses(load_denoiser(result.export_dir), batch, args.stage)
        log = [json.loads(line) for line in open(Path(config.output_dir) / "metrics.jsonl")]
        logged = [(row["step"], row["train/loss"]) for row in log if "train/loss" in row]

    print(f"stage {args.stage}, tiny model, one clip of {args.clip_length} samples, "
          f"{result.step} steps in {seconds:.1f} s")
    mean_before, mean_after = (sum(losses.values()) / len(losses) for losses in (before, after))
    print(f"fixed-noise loss over 20 diffusion steps: {mean_before:.4f} -> {mean_after:.4f} "
          f"({mean_before / mean_after:.1f}x lower)")
    print("  per step t (before -> after): " + ", ".join(
        f"t={step}: {before[step]:.3f} -> {after[step]:.3f}" for step in list(before)[::4]))
    print("logged training loss (step: loss): "
          + ", ".join(f"{step}: {loss:.3f}" for step, loss in logged[:3] + logged[-3:]))
    return {"before": mean_before, "after": mean_after}


if __name__ == "__main__":
    main()
