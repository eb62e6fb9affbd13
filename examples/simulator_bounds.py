"""What any model could score on a simulated test set: the simulator's predictable part, measured.

    python examples/simulator_bounds.py runs/default_model/heldout

The reference of a simulated scene is the direct sound (a function of the mono signal and the
positions, which a model sees) plus the room's reflections and late tail (a function of the room,
which it does not). This script scores, against each reference, systems that know more and more:

- geometric warp: the DSP baseline, as the benchmark scores it;
- attenuated warp: the warp with each ear's 1/r spreading times 0.4 (the default model's prior);
- direct sound: the simulator's own free-field rendering through the scene's own head, measured
  or spherical (all a model can know exactly);
- spherical head's direct sound (sets with measured heads): what a perfect model of the
  original simulator's rigid sphere would give;
- another room: a perfect sample of the simulator, with a fresh room of the same kind;
- true room, another tail: the true room's direct sound and reflections, a fresh late tail.

The last two are out of any model's reach; where even they miss a target, the target asks for
more than the data holds. The table goes to stdout (and `--output FILE.md`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from binauralgrad import dsp
from binauralgrad.data.render import REFERENCE_DISTANCE, render_binaural
from binauralgrad.data.room import random_room
from binauralgrad.data.synthetic import SETTINGS_FILE, dataset_room, sequence_scene
from binauralgrad.data.world import World
from binauralgrad.evaluation import compute_metrics, format_table, metric_names, weighted_mean
from binauralgrad.io import read_positions, read_wav, write_wav

PRIOR_GAIN = 0.4  # the default model's prior gain (examples/train_default_model.sh)


def systems(mono: np.ndarray, positions: np.ndarray, room, other_room, *, measured=None,
            anechoic: bool = False) -> dict[str, np.ndarray]:
    """(2, T) outputs of every system for one scene heard through `measured` (None: the
    sphere); an anechoic scene's room rows are its direct sound (it has no room to know)."""
    mono_t = torch.from_numpy(mono)[None, None]
    rows = torch.from_numpy(positions.T.astype(np.float32))[None]
    warped = dsp.geometric_warp(mono_t, rows)
    attenuated = PRIOR_GAIN * warped * dsp.spreading_gain(rows, mono_t.shape[-1])
    other_tail = other_room.tail[:, : room.tail.shape[1]]
    other_tail = np.pad(other_tail, ((0, 0), (0, room.tail.shape[1] - other_tail.shape[1])))
    direct = render_binaural(mono, positions, room=None, measured=measured)
    outputs = {
        "geometric warp": warped[0].numpy(),
        "attenuated warp": attenuated[0].numpy(),
        "direct sound": direct,
        "another room": direct if anechoic else render_binaural(
            mono, positions, room=other_room, measured=measured),
        "true room, another tail": direct if anechoic else render_binaural(
            mono, positions, room=dataclasses.replace(room, tail=other_tail), measured=measured),
    }
    if measured is not None:
        outputs["spherical head's direct sound"] = render_binaural(mono, positions, room=None)
    return outputs


def write_direct(scene: Path, folder: Path, direct: np.ndarray) -> None:
    """The scene's folder again, with its direct sound in place of the reference."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("mono.wav", "tx_positions.txt"):
        shutil.copy(scene / name, folder / name)
    write_wav(folder / "binaural.wav", direct.astype(np.float32))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("root", type=Path, help="a folder written by binauralgrad make-synthetic")
    parser.add_argument("--split", default="testset", help="the split to score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh rooms and tails")
    parser.add_argument("--no-pesq", action="store_true", help="skip PESQ (the slowest metric)")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument("--write-direct", type=Path, metavar="DIR",
                        help="also write the split with each scene's direct sound as its "
                             "binaural.wav (for compare_recipes.py --direct-dir)")
    args = parser.parse_args(argv)
    folders = sorted(path for path in (args.root / args.split).iterdir() if path.is_dir())
    if not folders:
        parser.error(f"no sequence folders under {args.root / args.split}")
    rng = np.random.default_rng(args.seed)
    names = [name for name in metric_names() if not (args.no_pesq and name == "pesq")]
    scores: dict[str, list[dict]] = {}
    lengths = []
    world = World.from_settings(json.loads((args.root / SETTINGS_FILE).read_text()))
    heads = dict(zip(world.heads, world.load(), strict=True))
    for folder in tqdm(folders, desc="scenes"):
        mono = read_wav(folder / "mono.wav")[0]
        reference = read_wav(folder / "binaural.wav")
        positions = read_positions(folder / "tx_positions.txt", num_samples=len(mono))
        room = dataset_room(args.root, args.split, folder.name)
        other = random_room(rng, reference_distance=REFERENCE_DISTANCE,
                            wall_reflection=world.wall_reflection)
        head, anechoic = sequence_scene(args.root, args.split, folder.name)
        outputs = systems(mono, positions, room, other, measured=heads[head], anechoic=anechoic)
        if args.write_direct is not None:
            write_direct(folder, args.write_direct / folder.name, outputs["direct sound"])
        for name, output in outputs.items():
            scores.setdefault(name, []).append(compute_metrics(output, reference, metrics=names))
        lengths.append(len(mono))
    table = format_table({name: weighted_mean(rows, lengths) for name, rows in scores.items()},
                         first_column="system")
    print(table)
    if args.output is not None:
        args.output.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
