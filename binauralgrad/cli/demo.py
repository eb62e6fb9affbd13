"""`binauralgrad demo`: simulate a scene, synthesise it with a model and the DSP baseline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from binauralgrad.constants import DEFAULT_MODEL_DIR

DEMO_MARKER = "demo.json"  # marks a folder as a demo's own output, which a rerun may replace


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate a talker in a room and synthesise the listener's ears",
        description="Simulate a talker moving around a listener, synthesise the ears with a "
                    "BinauralGrad pipeline and with the geometric warp, score both and draw the "
                    "scene (scene.png). Running it again replaces its own earlier output.")
    parser.add_argument("--output-dir", type=Path, default=Path("demo"),
                        help="where the scene, both syntheses and scene.png go (default: demo)")
    parser.add_argument("--model", default=None,
                        help="pipeline folder or Hub repo id (default: the embedded model)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="length of the scene (default: 4)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the scene and the sampler (default: 0)")
    parser.add_argument("--room", metavar="NAME", default=None,
                        help="the pipeline's room to render with (default: `reverberant` where "
                             "the pipeline has it, as the simulated rooms are; else its own)")
    parser.add_argument("--no-plot", dest="plot", action="store_false",
                        help="skip scene.png (drawn by default)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an output folder that a demo did not write")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_demo)


def default_pipeline():
    """The embedded default pipeline, or a freshly initialised small one when none is packaged."""
    import torch

    from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig

    if (DEFAULT_MODEL_DIR / "pipeline.json").is_file():
        return BinauralGradPipeline.from_pretrained(DEFAULT_MODEL_DIR), "the embedded default model"
    print("demo: no trained default model is packaged; using a freshly initialised small model,"
          " whose output is not speech", file=sys.stderr)
    sizes = {"residual_layers": 6, "residual_channels": 16, "dilation_cycle_length": 3}
    torch.manual_seed(0)
    return BinauralGradPipeline(BinauralDenoiser(DenoiserConfig.stage_one(**sizes)),
                                BinauralDenoiser(DenoiserConfig.stage_two(**sizes))), \
        "a freshly initialised small model"


def run_demo(args: argparse.Namespace) -> int:
    import torch

    from binauralgrad import BinauralGradPipeline
    from binauralgrad.data.synthetic import simulate_sequence
    from binauralgrad.io.atomic import atomic_folder
    from binauralgrad.io.audio import write_wav
    from binauralgrad.io.positions import write_positions

    out = args.output_dir
    ours = (out / DEMO_MARKER).is_file()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not (ours or args.overwrite):
        raise FileExistsError(f"{out} exists and was not written by a demo; pass --overwrite to "
                              "replace it, or choose another --output-dir")
    if args.model:
        pipeline, label = BinauralGradPipeline.from_pretrained(args.model), args.model
    else:
        pipeline, label = default_pipeline()
    # The demo's rooms are the simulator's default walls (reflecting 0.7-0.9): reverberant.
    room = args.room or ("reverberant" if "reverberant" in pipeline.rooms else None)
    if room is not None:
        pipeline.room = room
        label += f", room {room}"
    scene = simulate_sequence(args.seconds, seed=args.seed)
    result = pipeline(scene["mono"][0], scene["positions"], progress=not args.quiet,
                      generator=torch.Generator().manual_seed(args.seed))
    systems = {"BinauralGrad": result.audio, "geometric warp": result.warped}
    table = score_table({**systems, **scored_alone(pipeline, scene)},
                        torch.from_numpy(scene["binaural"]))

    def write(folder: Path) -> None:
        write_wav(folder / "scene" / "mono.wav", scene["mono"])
        write_wav(folder / "scene" / "binaural.wav", scene["binaural"])
        write_positions(folder / "scene" / "tx_positions.txt", scene["positions"])
        write_wav(folder / "binauralgrad.wav", result.audio.numpy())
        write_wav(folder / "geowarp.wav", result.warped.numpy())
        if args.plot:
            from binauralgrad.evaluation.scene_plot import plot_scene

            plot_scene(scene["positions"], scene["binaural"],
                       {name: audio.numpy() for name, audio in systems.items()},
                       folder / "scene.png", title=f"Demo scene ({args.seconds:g} s, seed "
                       f"{args.seed}): reference, BinauralGrad ({label}), geometric warp")
        (folder / DEMO_MARKER).write_text(json.dumps(
            {"model": label, "seconds": args.seconds, "seed": args.seed}, indent=2) + "\n")

    atomic_folder(out, write, overwrite=True)
    print(f"simulated {args.seconds:g} s in {out / 'scene'}; synthesised with {label}")
    print(f"wrote {out / 'binauralgrad.wav'} (BinauralGrad) and {out / 'geowarp.wav'} "
          "(DSP baseline)" + (f"; the scene and its cues: {out / 'scene.png'}" if args.plot
                              else "") + "\n")
    print(table)
    return 0


def scored_alone(pipeline, scene: dict) -> dict:
    """The model's learned head and DSP prior alone on the scene, where it has them: scored
    beside it, so that nobody mistakes their gain over the warp for the denoisers'."""
    from binauralgrad.evaluation.benchmark import parts_alone

    labels = {"head": "its learned head alone", "prior": "its DSP prior alone"}
    mono, positions = scene["mono"][0], scene["positions"]
    return {labels[system]: pipeline.prior_alone(mono, positions, learned=learned)
            for system, learned in parts_alone(pipeline)}


def score_table(predictions: dict, reference) -> str:
    """The benchmark's metrics of each prediction ({name: (2, T) tensor}) against the
    reference (2, T), as a table."""
    from binauralgrad.evaluation.folder import format_table
    from binauralgrad.evaluation.metrics import compute_metrics

    rows = {name: compute_metrics(audio, reference) for name, audio in predictions.items()}
    return format_table(rows, first_column="vs. simulated ears")
