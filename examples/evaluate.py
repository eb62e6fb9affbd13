"""Score predicted binaural WAVs against a test set: the paper's table, plus interaural cue errors.

    python examples/evaluate.py outputs/ data/testset --json results.json --plots figures/

`outputs/` holds `<sequence>.wav` for every sequence folder of the test set (e.g. written by
examples/synthesize.py). The same as `binauralgrad evaluate`, spelled out with the library.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from binauralgrad.evaluation import (
    evaluate_pairs,
    format_table,
    pair_sequences,
    write_json,
    write_plots,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, help="folder of <sequence>.wav")
    parser.add_argument("testset", type=Path, help="test set folder (sequence folders)")
    parser.add_argument("--protocol", choices=("paper", "full"), default="paper",
                        help="paper: PESQ of the left ear's first 5 s; full: also whole-length "
                             "PESQ (default: paper)")
    parser.add_argument("--json", type=Path, help="write every number as JSON (default: no)")
    parser.add_argument("--plots", type=Path,
                        help="write PNG figures into this folder (default: no)")
    args = parser.parse_args(argv)

    pairs = pair_sequences(args.predictions, args.testset)  # every file checked before scoring
    result = evaluate_pairs(pairs, protocol=args.protocol)
    print(format_table({**result.sequences, "overall": result.overall}, first_column="Sequence"))
    if args.json:
        write_json(args.json, result.to_dict())
    if args.plots:
        files = {
            pair.name: {"reference": pair.reference, "prediction": pair.prediction}
            for pair in pairs
        }
        write_plots(args.plots, files, {"prediction": result.sequences}, progress=True)


if __name__ == "__main__":
    main()
