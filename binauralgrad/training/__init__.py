"""Training BinauralGrad's two stages with Accelerate: config, loss, loop, checkpoints, export."""

from __future__ import annotations

from binauralgrad._lazy import lazy_exports

# Public name -> defining module, imported on first use: `binauralgrad assemble` and the loss
# need neither accelerate nor datasets (the `train` extra).
_EXPORTS = {
    "TrainingConfig": "binauralgrad.training.config",
    "LossTerms": "binauralgrad.training.losses",
    "diffusion_loss": "binauralgrad.training.losses",
    "add_training_arguments": "binauralgrad.training.arguments",
    "config_from_args": "binauralgrad.training.arguments",
    "parse_config": "binauralgrad.training.arguments",
    "NonFiniteLossError": "binauralgrad.training.loop",
    "Trainer": "binauralgrad.training.loop",
    "TrainingResult": "binauralgrad.training.loop",
    "train": "binauralgrad.training.loop",
    "assemble_pipeline": "binauralgrad.training.export",
    "export_denoiser": "binauralgrad.training.export",
    "measure_training_throughput": "binauralgrad.training.throughput",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
