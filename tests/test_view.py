"""What the denoiser sees of the positions: the rows, or the geometry at the listener's head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, moving_positions, randomize, speech_like

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig, dsp, positions
from binauralgrad.view import VIEW_CHANNELS, view_features


def rows_of(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.T, dtype=np.float32))[None]


def test_rows_are_the_tracked_columns():
    rows = rows_of(moving_positions(5))
    assert view_features(rows, "rows") is rows


@pytest.mark.parametrize("azimuth", [-90.0, -30.0, 0.0, 45.0, 135.0])
def test_ears_view_is_the_geometry_at_the_head(azimuth):
    rows = rows_of(positions.static(4000, azimuth_deg=azimuth, distance_m=2.0))
    features = view_features(rows, "ears")[0, :, 0]
    assert features.shape == (VIEW_CHANNELS["ears"],)
    direction = features[:3]
    assert direction.norm() == pytest.approx(1.0, abs=1e-5)
    horizontal = float(torch.atan2(direction[1], direction[0]))
    assert np.rad2deg(horizontal) == pytest.approx(azimuth, abs=4.0)  # the mouth sits off-axis
    assert features[3] == pytest.approx(np.log(2.0), abs=0.08)
    assert features[4] == pytest.approx(1.0, abs=0.05)  # facing the listener
    np.testing.assert_allclose(features[5:], dsp.frame_spreading(rows)[0, :, 0], rtol=1e-6)


def test_a_talker_facing_away_reads_minus_one():
    rows = rows_of(positions.static(400, azimuth_deg=0.0, distance_m=1.5, yaw_deg=0.0))
    assert view_features(rows, "ears")[0, 4, 0] == pytest.approx(-1.0, abs=0.05)


def test_unknown_views_are_refused():
    with pytest.raises(ValueError, match="view must be one of"):
        view_features(rows_of(moving_positions(2)), "eyes")
    with pytest.raises(ValueError, match="DenoiserConfig.view"):
        DenoiserConfig(view="eyes")


def test_the_wavefront_equals_the_reference_with_the_ears_view():
    stages = [randomize(BinauralDenoiser(make(**TINY, view="ears", prior="attenuated_warp",
                                              prior_std="envelope", prior_scale=0.5,
                                              prior_gain=0.4)), seed)
              for seed, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    pipe = BinauralGradPipeline(*stages)
    mono, rows = speech_like(5000), moving_positions(13)

    def run(**options):
        return pipe(mono, rows, generator=torch.Generator().manual_seed(1), progress=False,
                    **options).audio

    reference = run(implementation="reference")
    assert (run() - reference).abs().max() < 1e-5
    assert (run(tile_seconds=0.01) - reference).abs().max() < 1e-5
    # The view reaches the output: the same weights seeing the rows give other audio.
    stages[0].config.view = stages[1].config.view = "rows"
    assert (run(implementation="reference") - reference).abs().max() > 1e-4
