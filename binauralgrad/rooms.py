"""Rooms: learned heads fitted for another kind of room than the one the stages were trained in.

What the two ears of a listener measure depends on the room as much as on the head: in a
reverberant room the reflections, arriving from every side, pull the interaural time and level
differences towards zero, and in a treated one the head's own cues come through. The model sees
the mono signal and the positions only, which say nothing of the room; one set of heads cannot be
right in both kinds (docs/recipes.md, "Rooms as a condition"). So the room is told: a pipeline
keeps, beside the heads its stages were trained with, heads fitted in closed form to the scenes
of other rooms (`binauralgrad fit-head --room NAME`), and `pipe.room = NAME` puts them in place.
The denoisers are shared: only the learned heads, a few thousand weights a stage, change, and
the sampling temperature if the room has its own (a reverberant room's tail is what the
denoisers' sampled residual can stand for, which a deterministic output leaves out).

A pipeline folder keeps them in `rooms.safetensors` (`<name>.stage_one`, `<name>.stage_two`) and
their descriptions and fits in pipeline.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from binauralgrad.constants import STAGE_FOLDERS

ROOMS_FILE = "rooms.safetensors"


@dataclass
class RoomHeads:
    """The learned heads of one kind of room.

    Attributes:
        description: what the room is, for people (the card states it).
        heads: each stage's head weights, (BASIS_SIZE, taps), float32.
        fit: how they were fitted (`binauralgrad fit-head`'s record).
        temperature: the sampling temperature in this room, or None for the pipeline's own.
    """

    description: str
    heads: tuple[torch.Tensor, torch.Tensor]
    fit: dict = field(default_factory=dict)
    temperature: float | None = None

    def __post_init__(self):
        if len(self.heads) != 2:
            raise ValueError(f"a room needs one head per stage (2), got {len(self.heads)}")
        if self.temperature is not None and not 0.0 <= self.temperature <= 1.0:
            raise ValueError(f"a room's temperature must lie in [0, 1], got {self.temperature!r}")
        self.heads = tuple(torch.as_tensor(head, dtype=torch.float32).detach().clone()
                           for head in self.heads)


def use_room(stages: Sequence, rooms: Mapping[str, RoomHeads], name: str | None,
             trained: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
    """Puts room `name`'s heads into the stages (None: the heads they were trained with).

    Args:
        stages: the pipeline's two denoisers. rooms: the pipeline's rooms.
        trained: the trained heads kept by an earlier call, or None if the stages hold them.

    Returns:
        The trained heads to keep for the next call (None once they are back in the stages).
    """
    if name is not None and name not in rooms:
        known = ", ".join(sorted(rooms)) or "none"
        raise ValueError(f"unknown room {name!r}; this pipeline's rooms: {known}")
    if name is not None and any(stage.learned_head is None for stage in stages):
        raise ValueError("rooms need learned heads, and a stage of this pipeline has none")
    if trained is None:
        if name is None:
            return None
        trained = [stage.learned_head.weight.detach().clone() for stage in stages]
    heads = trained if name is None else rooms[name].heads
    for stage, head in zip(stages, heads, strict=True):
        if head.shape != stage.learned_head.weight.shape:
            raise ValueError(f"room {name!r} has heads of shape {tuple(head.shape)}, the "
                             f"stage's is {tuple(stage.learned_head.weight.shape)}")
        with torch.no_grad():
            stage.learned_head.weight.copy_(head)
    return None if name is None else trained


def save_rooms(folder: Path, rooms: Mapping[str, RoomHeads]) -> dict:
    """Writes `rooms.safetensors` into `folder` (nothing without rooms); returns their
    descriptions, fits and temperatures for pipeline.json."""
    if not rooms:
        return {}
    from safetensors.torch import save_file

    tensors, listed = {}, {}
    for name, room in rooms.items():
        for stage, head in zip(STAGE_FOLDERS, room.heads, strict=True):
            tensors[f"{name}.{stage}"] = head.contiguous()
        listed[name] = {"description": room.description, "fit": room.fit}
        if room.temperature is not None:
            listed[name]["temperature"] = room.temperature
    save_file(tensors, str(Path(folder) / ROOMS_FILE))
    return listed


def load_rooms(path_or_repo_id: str | os.PathLike, listed: Mapping,
               **download_kwargs) -> dict[str, RoomHeads]:
    """The rooms a pipeline.json lists (`listed`), with their heads from `rooms.safetensors`."""
    if not listed:
        return {}
    from safetensors import safe_open

    from binauralgrad.io.hub import resolve_file

    path = resolve_file(path_or_repo_id, ROOMS_FILE, **download_kwargs)
    rooms = {}
    with safe_open(str(path), framework="pt") as tensors:
        names = set(tensors.keys())
        for name, entry in listed.items():
            keys = [f"{name}.{stage}" for stage in STAGE_FOLDERS]
            missing = [key for key in keys if key not in names]
            if missing:
                raise ValueError(f"{path} lacks {', '.join(missing)}, which pipeline.json lists")
            rooms[name] = RoomHeads(entry.get("description", ""),
                                    tuple(tensors.get_tensor(key) for key in keys),
                                    dict(entry.get("fit") or {}), entry.get("temperature"))
    return rooms
