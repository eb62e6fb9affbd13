"""What a denoiser sees of the positions: the tracking rows, or the geometry at the listener's head.

"rows" (the paper's): the seven columns `x y z qx qy qz qw` as tracked. A small network must then
learn on its own that a head-related response depends on the direction and distance of the mouth
from the head, a trigonometric function of these columns.
"ears": that geometry, computed with the warp's own (`dsp.mouth_position`):
    0-2  the unit vector from the listener's head centre (between the ears) to the mouth;
    3    log of that distance in metres (near and far talkers sound different, not just quieter);
    4    how directly the talker faces the listener: the cosine between the talker's facing and
         the direction to the listener's head (their directivity);
    5-6  each ear's 1 / r spreading (left, right), as the attenuated warp prior applies it.
Both are per-row functions, computed on 120 Hz rows and held for 400 samples each, so windows,
tiles and streams slice them exactly as they slice the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binauralgrad.constants import POSITION_COLUMNS

if TYPE_CHECKING:  # configs import the names below without loading torch
    import torch

VIEWS = ("rows", "ears")
VIEW_CHANNELS = {"rows": POSITION_COLUMNS, "ears": 7}


def view_features(positions, view: str) -> torch.Tensor:
    """A denoiser's position features of tracking rows.

    Args:
        positions: (B, 7, K) rows `x y z qx qy qz qw` (or their `dsp.RowGeometry`).
        view: one of VIEWS (see the module docstring).

    Returns:
        (B, VIEW_CHANNELS[view], K), the dtype of `positions`.
    """
    import torch

    from binauralgrad import dsp

    if view == "rows":
        return positions.positions if isinstance(positions, dsp.RowGeometry) else positions
    if view != "ears":
        raise ValueError(f"view must be one of {list(VIEWS)}, got {view!r}")
    geometry = dsp.RowGeometry.of(positions)
    direction, distance = geometry.head_direction
    towards = -(direction * geometry.facing).sum(1, keepdim=True)
    spreading = geometry.spreading.to(geometry.positions.dtype)
    return torch.cat([direction, distance.log(), towards, spreading], dim=1)


def head_direction(positions) -> tuple[torch.Tensor, torch.Tensor]:
    """The mouth seen from the listener's head centre (between the ears), per row.

    Args:
        positions: (B, 7, K) rows `x y z qx qy qz qw` (or their `dsp.RowGeometry`).

    Returns:
        (unit vector (B, 3, K), distance in metres (B, 1, K), at least `dsp.HEAD_CLEARANCE`).
    """
    from binauralgrad import dsp

    return dsp.RowGeometry.of(positions).head_direction
