"""Synthesise the ears for every sequence folder of a test set with a BinauralGrad pipeline.

    python examples/synthesize.py --model runs/pipeline --testset data/testset --output-dir out/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from binauralgrad import BinauralGradPipeline
from binauralgrad.data import find_sequences
from binauralgrad.io.audio import read_wav, write_wav
from binauralgrad.io.positions import read_positions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="pipeline folder or Hub repo id")
    parser.add_argument("--testset", required=True, type=Path,
                        help="test set folder (sequence folders with mono.wav, tx_positions.txt)")
    parser.add_argument("--output-dir", required=True, type=Path,
                        help="where <sequence>.wav go (finished ones are kept)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="default: cuda when present, else cpu")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    args = parser.parse_args(argv)

    pipe = BinauralGradPipeline.from_pretrained(args.model, device=args.device)
    for folder in tqdm(find_sequences(args.testset), desc="sequences"):
        output = args.output_dir / f"{folder.name}.wav"
        if output.exists():  # resumable: finished sequences are kept
            continue
        mono = read_wav(folder / "mono.wav", channels=1)[0]
        positions = read_positions(folder / "tx_positions.txt", num_samples=len(mono))
        out = pipe(mono, positions, generator=torch.Generator().manual_seed(args.seed),
                   progress=False)
        write_wav(output, out.audio.cpu().numpy())


if __name__ == "__main__":
    main()
