"""Model cards (README.md) of saved denoisers and pipelines: what is known, nothing invented."""

from __future__ import annotations

from collections.abc import Mapping

PAPER = "Leng et al., NeurIPS 2022, https://arxiv.org/abs/2205.14807"
_HEADER = ["---", "library_name: binauralgrad", "tags: [audio, binaural, diffusion, speech]",
           "---"]
# TrainingConfig values a reader needs to know how a stage was trained, in this order.
_RECIPE_KEYS = ("model_config", "max_steps", "batch_size", "clip_length", "learning_rate",
                "lr_schedule", "warmup_steps", "noise_levels", "prior", "prior_std", "prior_scale",
                "prior_gain",
                "ema_decay", "lambda_phase", "seed", "data_dir")


def describe_config(config) -> str:
    """One line on a DenoiserConfig: stage, size and what it diffuses."""
    what = "the ears' mean (stage one)" if config.out_channels == 1 else \
        "both ears, given the mean (stage two)"
    scale = f"{config.prior_scale:g}" + (" x the mono envelope" if config.prior_std ==
                                         "envelope" else "")
    gain = f" (gain {config.prior_gain:g})" if config.prior != "zero" else ""
    prior = f"the {config.prior} prior's{gain} residual / ({scale})"
    if config.diffuses_signal:
        prior = "the signal itself (the paper's)"
    return (f"{config.residual_layers} layers x {config.residual_channels} channels (dilation "
            f"cycle {config.dilation_cycle_length}, {config.condition_channels} condition "
            f"channels); generates {what}; diffuses {prior}")


def recipe_lines(training: Mapping | None) -> list[str]:
    """Bullet lines of a stage's recipe, from its saved TrainingConfig values."""
    if not training:
        return ["- training recipe: not recorded with this model"]
    items = [f"`{key}`={training[key]}" for key in _RECIPE_KEYS if key in training]
    return ["- training recipe: " + ", ".join(items)]


def denoiser_card(config, training: Mapping | None = None) -> str:
    """The README of a saved denoiser folder."""
    lines = [*_HEADER, "# BinauralGrad denoiser", "",
             f"One stage of BinauralGrad ({PAPER}), saved by the `binauralgrad` package.", "",
             f"- model: {describe_config(config)}", *recipe_lines(training), "",
             "Load it with `binauralgrad.BinauralDenoiser.from_pretrained(<this folder or repo>)`, "
             "or join two stages into a pipeline with `binauralgrad assemble`."]
    return "\n".join(lines) + "\n"


def pipeline_card(stages: Mapping, info: Mapping | None = None) -> str:
    """The README of a pipeline folder.

    Args:
        stages: {"stage_one": DenoiserConfig, "stage_two": DenoiserConfig}.
        info: the pipeline's recorded facts: "description" (text), "training" ({stage: saved
            TrainingConfig values}), "evaluation" ({"setting": text, "table": markdown}).
    """
    info = info or {}
    lines = [*_HEADER, "# BinauralGrad pipeline", "",
             f"Two-stage conditional diffusion for mono-to-binaural speech ({PAPER}).", ""]
    if info.get("description"):
        lines += [info["description"], ""]
    lines += ["```python", "from binauralgrad import BinauralGradPipeline",
              'pipe = BinauralGradPipeline.from_pretrained("<this repo or folder>")',
              "out = pipe(mono, positions)  # mono (T,) at 48 kHz; positions (ceil(T / 400), 7)",
              "out.audio                    # (2, T): left, right", "```", "", "## Stages", ""]
    training = info.get("training") or {}
    for name, config in stages.items():
        lines += [f"`{name}`:", "", f"- model: {describe_config(config)}",
                  *recipe_lines(training.get(name)), ""]
    evaluation = info.get("evaluation")
    if evaluation:
        lines += ["## Evaluation", "", evaluation.get("setting", ""), "", evaluation["table"], ""]
    return "\n".join(lines).rstrip() + "\n"
