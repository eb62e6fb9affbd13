"""`binauralgrad demo`: simulate a scene, synthesise it with a model and the DSP baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from binauralgrad.audio_io import write_positions, write_wav
from binauralgrad.hub import DEFAULT_MODEL_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate a talker in a room and synthesise the listener's ears",
        description="Simulate a talker moving around a listener, synthesise the ears with a "
                    "BinauralGrad pipeline and with the geometric warp, and score both.")
    parser.add_argument("--output-dir", type=Path, default=Path("demo"))
    parser.add_argument("--model", default=None,
                        help="pipeline folder or Hub repo id (default: the embedded model)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the scene")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scene and the sampler")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_demo)


def default_pipeline():
    """The embedded default pipeline, or a freshly initialised small one when none is packaged."""
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
    from binauralgrad import BinauralGradPipeline
    from binauralgrad.data.synthetic import simulate_sequence

    out = args.output_dir
    outputs = [out / "scene" / name for name in ("mono.wav", "binaural.wav", "tx_positions.txt")]
    outputs += [out / "binauralgrad.wav", out / "geowarp.wav"]
    for path in outputs:
        if path.exists() and not args.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    scene = simulate_sequence(args.seconds, seed=args.seed)
    write_wav(outputs[0], scene["mono"], overwrite=args.overwrite)
    write_wav(outputs[1], scene["binaural"], overwrite=args.overwrite)
    write_positions(outputs[2], scene["positions"], overwrite=args.overwrite)
    if args.model:
        pipeline, label = BinauralGradPipeline.from_pretrained(args.model), args.model
    else:
        pipeline, label = default_pipeline()
    result = pipeline(scene["mono"][0], scene["positions"], progress=not args.quiet,
                      generator=torch.Generator().manual_seed(args.seed))
    write_wav(outputs[3], result.audio.numpy(), overwrite=args.overwrite)
    write_wav(outputs[4], result.warped.numpy(), overwrite=args.overwrite)
    print(f"simulated {args.seconds:g} s in {out / 'scene'}; synthesised with {label}")
    print(f"wrote {outputs[3]} (BinauralGrad) and {outputs[4]} (DSP baseline)\n")
    print(score_table({"BinauralGrad": result.audio, "geometric warp": result.warped},
                      torch.from_numpy(scene["binaural"])))
    return 0


def score_table(predictions: dict[str, torch.Tensor], reference: torch.Tensor) -> str:
    """The benchmark's metrics of each prediction against the reference, as a table."""
    from binauralgrad.evaluation import format_table
    from binauralgrad.metrics import compute_metrics

    rows = {name: compute_metrics(audio, reference) for name, audio in predictions.items()}
    return format_table(rows, first_column="vs. simulated ears")
