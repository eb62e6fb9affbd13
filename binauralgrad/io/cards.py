"""Model cards (README.md) of saved denoisers and pipelines: what is known, nothing invented."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PAPER = "Leng et al., NeurIPS 2022, https://arxiv.org/abs/2205.14807"
_HEADER = ["---", "library_name: binauralgrad", "tags: [audio, binaural, diffusion, speech]",
           "---"]
# TrainingConfig values a reader needs to know how a stage was trained, in this order.
_RECIPE_KEYS = ("model_config", "max_steps", "batch_size", "clip_length", "learning_rate",
                "lr_schedule", "warmup_steps", "noise_levels", "prior", "prior_std", "prior_scale",
                "prior_gain",
                "ema_decay", "lambda_phase", "seed", "data_dir")
_PATH_KEYS = ("data_dir", "output_dir", "validation_dir", "resume")


def portable_path(value: str, base: str | os.PathLike | None = None) -> str:
    """A path as a card may name it: relative to `base` (default: the working folder) where it
    lies inside it, else its last two parts (`data/trainset`): never a machine's own layout."""
    path = Path(value)
    if not path.is_absolute():
        return value
    try:
        return path.relative_to(Path(base or os.getcwd()).resolve()).as_posix()
    except ValueError:
        return Path(*path.parts[-2:]).as_posix()


def portable_recipe(training: Mapping | None) -> dict | None:
    """Saved TrainingConfig values with their paths made `portable_path`s."""
    if training is None:
        return None
    return {key: portable_path(value) if key in _PATH_KEYS and isinstance(value, str) else value
            for key, value in training.items()}


def describe_config(config) -> str:
    """One line on a DenoiserConfig: stage, size and what it diffuses."""
    what = "the ears' mean (stage one)" if config.out_channels == 1 else \
        "both ears, given the mean (stage two)"
    prior = config.prior
    scale = f"{prior.scale:g}" + (" x the mono envelope" if prior.needs_envelope else "")
    gain = f" (gain {prior.gain:g})" if prior.kind != "zero" else ""
    head = f" with a learned {prior.head_taps}-tap head" if prior.head_taps else ""
    prior = f"the {prior.kind} prior's{gain}{head} residual / ({scale})"
    if config.diffuses_signal:
        prior = "the signal itself (the paper's)"
    return (f"{config.residual_layers} layers x {config.residual_channels} channels (dilation "
            f"cycle {config.dilation_cycle_length}, {config.condition_channels} condition "
            f"channels); generates {what}; diffuses {prior}")


def recipe_lines(training: Mapping | None) -> list[str]:
    """Bullet lines of a stage's recipe, from its saved TrainingConfig values."""
    if not training:
        return ["- training recipe: not recorded with this model"]
    training = portable_recipe(training)
    if isinstance(training.get("prior"), Mapping):  # the nested form: shown as the flat flags
        nested = training["prior"]
        training = {**training, "prior": nested.get("kind"),
                    **{f"prior_{name}": value for name, value in nested.items() if name != "kind"}}
    items = [f"`{key}`={training[key]}" for key in _RECIPE_KEYS if key in training]
    lines = ["- training recipe: " + ", ".join(items)]
    if training.get("head_fit"):
        lines.append(head_fit_line(training["head_fit"]))
    return lines


def head_fit_line(record: Mapping) -> str:
    """A bullet line on a learned head refit by `binauralgrad fit-head`."""
    explained = record.get("explained")
    if isinstance(explained, Mapping):
        explained = ", ".join(f"{value:.4f} ({name.replace('_', ' ')})"
                              for name, value in explained.items())
    targets = "its target's energy"
    compression = record.get("level_compression")
    if compression is not None:
        if isinstance(compression, (list, tuple)):
            compression = ", ".join(f"{value:g}" for value in compression) + \
                " in the octave bands from 125 Hz to 16 kHz"
        targets = (f"its target's energy, the references' interaural level differences scaled "
                   f"by {compression} (`--level-compression`)")
    strength = record.get("strength")
    mixed = "" if strength is None else (
        f"; used at strength {strength:g} (`--strength`: {strength:g} x the fit + "
        f"{1 - strength:g} x the DSP prior's unit impulse)")
    return (f"- learned head refit in closed form (`binauralgrad fit-head`) on "
            f"`{record.get('data_dir')}` (ridge {record.get('ridge')}): it explains "
            f"{explained} of {targets}{mixed}")


def denoiser_card(config, training: Mapping | None = None) -> str:
    """The README of a saved denoiser folder."""
    lines = [*_HEADER, "# BinauralGrad denoiser", "",
             f"One stage of BinauralGrad ({PAPER}), saved by the `binauralgrad` package.", "",
             f"- model: {describe_config(config)}", *recipe_lines(training), "",
             "Load it with `binauralgrad.BinauralDenoiser.from_pretrained(<this folder or repo>)`, "
             "or join two stages into a pipeline with `binauralgrad assemble`."]
    return "\n".join(lines) + "\n"


def pipeline_card(stages: Mapping, info: Mapping | None = None, *,
                  fast_steps: int | None = None, temperature: float | None = None,
                  rooms: Mapping | None = None, room: str | None = None) -> str:
    """The README of a pipeline folder.

    Args:
        stages: {"stage_one": DenoiserConfig, "stage_two": DenoiserConfig}.
        info: the pipeline's recorded facts: "description" (text), "training" ({stage: saved
            TrainingConfig values}), "evaluation" ({"setting": text, "table": markdown}),
            "steps" (quality against sampler steps, the same shape), "head_fit"
            (`binauralgrad fit-head`'s record).
        fast_steps, temperature: how `pipe(...)` samples by default, stated when given.
        rooms: {name: {"description": text, "fit": fit-head's record, "temperature": T if
            the room has its own}}, the heads of other rooms (`binauralgrad.rooms`); room: the
            one in place when saved (None: trained).
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
    if info.get("head_fit"):
        lines += [head_fit_line(info["head_fit"]), ""]
    if fast_steps is not None:
        lines += ["## Sampling", "", f"`pipe(...)` samples with {fast_steps} reverse step"
                  f"{'s' if fast_steps != 1 else ''} a stage"
                  + (f" at temperature {temperature:g}" if temperature is not None else "")
                  + " (`pipe.fast_steps`; `steps=` chooses per call, the paper's schedule has "
                  "6).", ""]
    if rooms:
        lines += _room_lines(rooms, room)
    for title, key in (("Evaluation", "evaluation"), ("Quality against sampler steps", "steps")):
        if info.get(key):
            section = info[key]
            lines += [f"## {title}", "", section.get("setting", ""), "",
                      section["table"].rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _room_lines(rooms: Mapping, room: str | None) -> list[str]:
    in_place = "the stages' own" if room is None else f"`{room}`'s"
    lines = ["## Rooms", "",
             "Besides the heads its stages were trained with, the pipeline has learned heads "
             "for these kinds of room (`pipe.room = NAME`, `--room NAME`; the denoisers are "
             f"shared). Saved with {in_place} heads in place.", ""]
    for name, entry in rooms.items():
        sampled = "" if entry.get("temperature") is None else \
            f" Sampled at temperature {entry['temperature']:g} in it."
        lines += [f"`{name}`: {entry.get('description', '').rstrip('.')}.{sampled}", ""]
        if entry.get("fit"):
            lines += [head_fit_line(entry["fit"]), ""]
    return lines
