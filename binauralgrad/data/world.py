"""What the simulator's scenes are drawn from: the listener's heads and the share of free field."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binauralgrad.constants import WALL_REFLECTION
from binauralgrad.data.hrtf import MeasuredHead, load_head, system_sofa

SPHERICAL = "spherical"  # the rigid-sphere model (data.head)
MIT_KEMAR = "mit-kemar"  # the MIT KEMAR set that Debian's libmysofa1 installs
_SCENE_STREAM = 0x5CE  # spawn-key suffix of the scene draws, apart from the scene's own draws


@dataclass(frozen=True)
class World:
    """The kinds of scene a data set mixes.

    Attributes:
        heads: each sequence is heard through one of these, drawn evenly: "spherical",
            "mit-kemar" (the system's MIT KEMAR SOFA file), or the path of a SOFA file
            (SimpleFreeFieldHRIR, for example a personalised HRTF).
        anechoic_share: the fraction of sequences with no room (direct sound only), where the
            head's effect is the whole difference from the warp.
        wall_reflection: (low, high), the range of the rooms' wall reflection coefficients
            (`room.random_room`; `constants.DRY_WALL_REFLECTION` for treated rooms).
    """

    heads: tuple[str, ...] = (SPHERICAL,)
    anechoic_share: float = 0.0
    wall_reflection: tuple[float, float] = WALL_REFLECTION

    def __post_init__(self):
        heads = (self.heads,) if isinstance(self.heads, (str, os.PathLike)) else self.heads
        object.__setattr__(self, "heads", tuple(os.fspath(head) for head in heads))
        if not self.heads:
            raise ValueError("heads must name at least one head (spherical, mit-kemar or a "
                             "SOFA file)")
        share = self.anechoic_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or \
                not math.isfinite(share) or not 0 <= share <= 1:
            raise ValueError(f"anechoic_share must be a fraction in [0, 1], got {share!r}")
        low, high = reflection = tuple(float(value) for value in self.wall_reflection)
        if not 0 <= low <= high < 1:
            raise ValueError(f"wall_reflection must be (low, high) with 0 <= low <= high < 1, "
                             f"got {self.wall_reflection!r}")
        object.__setattr__(self, "wall_reflection", reflection)
        for head in self.heads:
            if head not in (SPHERICAL, MIT_KEMAR) and not Path(head).is_file():
                raise FileNotFoundError(f"no such SOFA file: {head} (heads are spherical, "
                                        f"{MIT_KEMAR} or a SOFA file)")

    @property
    def is_default(self) -> bool:
        """Whether this is the original simulator's world (spherical head, always a room)."""
        return self.heads == (SPHERICAL,) and self.anechoic_share == 0

    def settings(self) -> dict:
        """What synthetic.json records of the world (only what differs from the original's)."""
        settings = {} if self.is_default else {"heads": list(self.heads),
                                               "anechoic_share": self.anechoic_share}
        if self.wall_reflection != WALL_REFLECTION:
            settings["wall_reflection"] = list(self.wall_reflection)
        return settings

    @classmethod
    def from_settings(cls, settings: dict) -> World:
        return cls(tuple(settings.get("heads", (SPHERICAL,))),
                   settings.get("anechoic_share", 0.0),
                   tuple(settings.get("wall_reflection", WALL_REFLECTION)))

    def load(self) -> list[MeasuredHead | None]:
        """The heads, each loaded once per data set (None: the sphere)."""
        loaded = {head: None if head == SPHERICAL else
                  load_head(system_sofa() if head == MIT_KEMAR else head)
                  for head in dict.fromkeys(self.heads)}
        return [loaded[head] for head in self.heads]

    def draw(self, seed: np.random.SeedSequence) -> tuple[int, bool]:
        """A sequence's head (an index into `heads`) and whether it is anechoic.

        Drawn from a stream apart from the sequence's own, so that the default world's
        sequences are exactly those of the original simulator.
        """
        if self.is_default:
            return 0, False
        stream = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, _SCENE_STREAM))
        rng = np.random.default_rng(stream)
        return int(rng.integers(len(self.heads))), bool(rng.uniform() < self.anechoic_share)
