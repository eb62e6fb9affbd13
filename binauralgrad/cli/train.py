"""Subcommands of `binauralgrad` for the training area: `train` and `assemble`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds `train` (also as `accelerate launch -m binauralgrad train ...`) and `assemble`."""
    from binauralgrad.training.arguments import add_training_arguments

    train = subparsers.add_parser(
        "train", help="train one stage (under `accelerate launch -m binauralgrad train` for "
                      "several processes)",
        description="Train one BinauralGrad stage with Accelerate: one CPU, one GPU, or many "
                    "(`accelerate launch -m binauralgrad train --stage 1 ...`). Every option "
                    "defaults to the paper's recipe; --resume latest continues a run.")
    add_training_arguments(train)
    train.set_defaults(func=run_train)
    assemble = subparsers.add_parser(
        "assemble",
        help="join two trained stages into a pipeline folder",
        description="Write a pipeline folder (stage_one/, stage_two/, pipeline.json) from the "
        "denoiser folders exported by training (OUTPUT_DIR/denoiser of each stage's run), for "
        "BinauralGradPipeline.from_pretrained and `binauralgrad synthesize`.",
    )
    assemble.add_argument("--stage-one", required=True, metavar="DIR",
                          help="stage one's exported denoiser, e.g. runs/stage_one/denoiser")
    assemble.add_argument("--stage-two", required=True, metavar="DIR",
                          help="stage two's exported denoiser, e.g. runs/stage_two/denoiser")
    assemble.add_argument("--output", required=True, metavar="DIR",
                          help="the pipeline folder to write, e.g. runs/pipeline")
    assemble.add_argument("--temperature", type=float, default=1.0,
                          help="the sampling noise's scale saved with the pipeline; below 1 "
                               "trades variety for lower error (default: 1, the paper's)")
    assemble.add_argument("--description", metavar="TEXT",
                          help="a paragraph for the model card (default: none)")
    assemble.add_argument("--evaluation", metavar="RESULTS_MD",
                          help="a results.md of `binauralgrad benchmark` to state in the model "
                               "card (default: none)")
    assemble.add_argument("--evaluation-setting", metavar="TEXT", default="",
                          help="what --evaluation was measured on, for the card (default: none)")
    assemble.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    assemble.add_argument("--quiet", action="store_true", help="no summary")
    assemble.set_defaults(func=run_assemble)
    fit_head = subparsers.add_parser(
        "fit-head", help="refit a pipeline's learned heads in closed form on a data set",
        description="Solve for the least-squares learned head of both stages of a pipeline on "
        "the sequences of a data set (Binaural Speech layout, with binaural.wav) and write the "
        "pipeline with the new heads; the denoisers are kept. Use it on a trained pipeline, or "
        "to fit the head to your own measured or personalised HRTF's scenes (make-synthetic "
        "--hrtf FILE.sofa).")
    fit_head.add_argument("--model", required=True, help="pipeline folder or Hub repo id")
    fit_head.add_argument("--data-dir", required=True, metavar="DIR",
                          help="the sequences to fit on, e.g. data/trainset")
    fit_head.add_argument("--output", required=True, metavar="DIR",
                          help="the pipeline folder to write")
    fit_head.add_argument("--keep", type=float, default=None,
                          help="share of the samples summed (default: 0.1)")
    fit_head.add_argument("--ridge", type=float, default=None,
                          help="pull towards the DSP prior, relative to the equations' scale "
                               "(default: 0.01)")
    fit_head.add_argument("--level-compression", type=_level_compression, default=1.0,
                          metavar="ALPHA",
                          help="fit to references whose interaural level differences (dB, per "
                               "octave band and frame) are scaled by ALPHA in [0, 1], as a room's "
                               "reverberation leaves them, or by eight comma-separated factors, "
                               "one per octave band from 125 Hz to 16 kHz (default: 1, as they "
                               "are)")
    fit_head.add_argument("--strength", type=float, default=1.0,
                          help="use STRENGTH x the fitted head + (1 - STRENGTH) x the DSP "
                               "prior's (a unit impulse), in [0, 1]: a reverberant room's cues "
                               "are nearer a blend's (default: 1, the fit)")
    fit_head.add_argument("--room", metavar="NAME", default=None,
                          help="keep the pipeline's heads and add (or replace) the fitted ones as "
                               "room NAME, for `pipe.room = NAME` / `--room NAME` (a pipeline "
                               "only; default: replace the heads)")
    fit_head.add_argument("--room-description", metavar="TEXT", default="",
                          help="what room NAME is, for the card (with --room; default: none)")
    fit_head.add_argument("--room-temperature", type=float, default=None, metavar="T",
                          help="sample at temperature T in room NAME (with --room; default: the "
                               "pipeline's own)")
    fit_head.add_argument("--seed", type=int, default=0, help="draw of the samples (default: 0)")
    fit_head.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    fit_head.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    fit_head.set_defaults(func=run_fit_head)


def _level_compression(text: str):
    """`--level-compression`: one factor, or eight comma-separated ones (one per octave band)."""
    from binauralgrad.training.level_cues import band_factors

    try:
        values = [float(value) for value in text.split(",")]
        value = values[0] if len(values) == 1 else values
        band_factors(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def run_assemble(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad assemble`."""
    from pathlib import Path

    from binauralgrad.training.export import assemble_pipeline

    info = {}
    if args.description:
        info["description"] = args.description
    if args.evaluation:
        table = Path(args.evaluation)
        if not table.is_file():
            raise FileNotFoundError(f"--evaluation {table} not found")
        info["evaluation"] = {"setting": args.evaluation_setting, "table": table.read_text()}
    from binauralgrad.schedule import NoiseSchedule

    folder = assemble_pipeline(args.stage_one, args.stage_two, args.output, info=info,
                               schedule=NoiseSchedule(temperature=args.temperature),
                               overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote the pipeline to {folder}", file=sys.stderr)
    return 0


def run_fit_head(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad fit-head`: a pipeline folder, or one stage's exported denoiser."""
    from pathlib import Path

    from binauralgrad import BinauralGradPipeline
    from binauralgrad.data import find_sequences
    from binauralgrad.io.cards import portable_path
    from binauralgrad.models.denoiser import load_denoiser
    from binauralgrad.pipeline import PIPELINE_FILE
    from binauralgrad.rooms import RoomHeads, use_room
    from binauralgrad.training.export import export_denoiser, read_training_info
    from binauralgrad.training.head_fit import DEFAULT_KEEP, DEFAULT_RIDGE, fit_heads

    keep = DEFAULT_KEEP if args.keep is None else args.keep
    ridge = DEFAULT_RIDGE if args.ridge is None else args.ridge
    if ridge < 0:
        raise ValueError(f"--ridge must be >= 0, got {ridge}")
    output = Path(args.output)
    # The save refuses it too, but only after minutes of fitting.
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    record = {"data_dir": portable_path(str(args.data_dir)), "keep": keep, "ridge": ridge,
              "seed": args.seed}
    if not 0.0 <= args.strength <= 1.0:
        raise ValueError(f"--strength must be in [0, 1], got {args.strength}")
    if args.room_temperature is not None and not 0.0 <= args.room_temperature <= 1.0:
        raise ValueError(f"--room-temperature must be in [0, 1], got {args.room_temperature}")
    if args.level_compression != 1.0:
        record["level_compression"] = args.level_compression
    if args.strength != 1.0:
        record["strength"] = args.strength
    sequences = find_sequences(args.data_dir)
    if (Path(args.model) / PIPELINE_FILE).is_file() or not Path(args.model).is_dir():
        pipeline = BinauralGradPipeline.from_pretrained(args.model)
        room, pipeline.room = pipeline.room, None
        trained = [stage.learned_head.weight.detach().clone() for stage in pipeline.stages
                   if stage.learned_head is not None]
        reports = fit_heads(pipeline.stages, sequences, keep=keep, ridge=ridge,
                            level_compression=args.level_compression,
                            strength=args.strength, seed=args.seed, progress=not args.quiet)
        record["explained"] = {f"stage_{report.stage}": round(report.after, 5)
                               for report in reports}
        if args.room:  # the fit becomes the room's heads; the trained ones go back in place
            fitted = tuple(stage.learned_head.weight for stage in pipeline.stages)
            pipeline.rooms[args.room] = RoomHeads(args.room_description, fitted, record,
                                                  args.room_temperature)
            use_room(pipeline.stages, pipeline.rooms, None, trained)
        else:
            # The card's evaluation measured the old heads: it no longer describes the pipeline.
            pipeline.info.pop("evaluation", None)
            pipeline.info["head_fit"] = record
        pipeline.room = room
        folder = pipeline.save_pretrained(output, overwrite=args.overwrite)
    else:  # one stage, as training exported it: its recipe goes along, with the fit
        if args.room:
            raise ValueError("--room needs a pipeline folder (its rooms share the denoisers)")
        denoiser = load_denoiser(args.model)
        reports = fit_heads([denoiser], sequences, keep=keep, ridge=ridge,
                            level_compression=args.level_compression,
                            strength=args.strength, seed=args.seed, progress=not args.quiet)
        record["explained"] = round(reports[0].after, 5)
        training = read_training_info(args.model)
        folder = export_denoiser(denoiser, output, training=None if training is None else
                                 {**training, "head_fit": record})
    if not args.quiet:
        for report in reports:
            print(f"stage {report.stage}: the head explains {report.before:.4f} of its target's "
                  f"energy before, {report.after:.4f} after ({report.equations} samples)",
                  file=sys.stderr)
        print(f"wrote {folder}", file=sys.stderr)
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Handler of `binauralgrad train` (and of examples/train.py)."""
    import logging

    from binauralgrad.training import NonFiniteLossError, config_from_args, train

    config = config_from_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        result = train(config)
    except NonFiniteLossError as error:
        print(f"binauralgrad train: {error}", file=sys.stderr)
        return 1
    print(f"step {result.step}: {result.losses}; denoiser exported to {result.export_dir}")
    return 0
