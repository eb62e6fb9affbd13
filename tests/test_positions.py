"""binauralgrad.positions: rows from descriptions land where described, face as asked, and refuse
impossible paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from binauralgrad import dsp, positions
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.positions import Circle, Line, Static, Waypoints, load_path

SECOND = SAMPLE_RATE


def mouth_direction(rows: np.ndarray) -> np.ndarray:
    """(K, 2) unit horizontal direction from each tracked point to its mouth: where the talker
    faces, as the warp's own geometry sees it."""
    mouth = dsp.mouth_position(torch.from_numpy(rows).double().T[None])[0].T.numpy()
    offset = mouth[:, :2] - rows[:, :2]
    return offset / np.linalg.norm(offset, axis=-1, keepdims=True)


def unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def rotation_steps_deg(rows: np.ndarray) -> np.ndarray:
    """Angle of the rotation between consecutive rows."""
    dots = np.abs(np.sum(rows[1:, 3:].astype(np.float64) * rows[:-1, 3:], axis=-1))
    return np.degrees(2 * np.arccos(np.clip(dots, 0, 1)))


@pytest.mark.parametrize("num_samples, frames", [(1, 1), (399, 1), (400, 1), (401, 2),
                                                 (SECOND, 120)])
def test_every_kind_gives_one_row_per_400_samples(num_samples, frames):
    described = [Static(), Circle(), Line(), Waypoints([0, 2], [[1, 0], [0, 1]])]
    for description in described:
        rows = description.rows(num_samples)
        assert rows.shape == (frames, 7) and rows.dtype == np.float32
        assert np.isfinite(rows).all()
        np.testing.assert_allclose(np.linalg.norm(rows[:, 3:], axis=-1), 1, atol=1e-6)


def test_static_talker_is_at_its_azimuth_elevation_and_distance_facing_the_listener():
    right = positions.static(800, azimuth_deg=90, distance_m=2.0)
    np.testing.assert_allclose(right[:, :3], [[0, 2, 0]] * 2, atol=1e-6)  # +90 = right = +y
    np.testing.assert_allclose(mouth_direction(right), [[0, -1]] * 2, atol=1e-6)
    up = positions.static(400, azimuth_deg=-90, elevation_deg=30, distance_m=1.0)[0]
    np.testing.assert_allclose(up[:3], [0, -np.cos(np.pi / 6), 0.5], atol=1e-6)
    behind_left = positions.static(400, azimuth_deg=-135, distance_m=1.5)
    assert np.linalg.norm(behind_left[0, :3]) == pytest.approx(1.5)
    np.testing.assert_allclose(mouth_direction(behind_left), -unit(behind_left[:, :2]), atol=1e-6)


def test_static_yaw_turns_the_face():
    for yaw, direction in ((0, [1, 0]), (90, [0, 1]), (180, [-1, 0]), (-90, [0, -1])):
        rows = positions.static(400, azimuth_deg=30, yaw_deg=yaw)
        np.testing.assert_allclose(mouth_direction(rows)[0], direction, atol=1e-6)


@pytest.mark.parametrize("azimuth, first_ear", [(90, 1), (-90, 0), (45, 1), (-150, 0)])
def test_a_talker_on_one_side_reaches_that_ear_first(azimuth, first_ear):
    rows = positions.static(1600, azimuth_deg=azimuth, distance_m=1.0)
    mono = torch.zeros(1, 1, 1600, dtype=torch.float64)
    mono[..., 100] = 1.0
    warped = dsp.geometric_warp(mono, torch.from_numpy(rows).double().T[None])[0]
    arrival = (warped * torch.arange(1600)).sum(-1) / warped.sum(-1)  # centre of the impulse
    assert arrival[first_ear] < arrival[1 - first_ear] - 5  # samples: a clear interaural delay


def test_circle_keeps_its_radius_goes_clockwise_and_faces_as_asked():
    rows = positions.circle(8 * SECOND, radius_m=1.5, period_s=8, height_m=0.3)
    np.testing.assert_allclose(np.linalg.norm(rows[:, :2], axis=-1), 1.5, atol=1e-5)
    np.testing.assert_allclose(rows[:, 2], 0.3, atol=1e-6)
    np.testing.assert_allclose(rows[[0, 240, 480, 720], :2],
                               [[1.5, 0], [0, 1.5], [-1.5, 0], [0, -1.5]], atol=1e-5)
    np.testing.assert_allclose(mouth_direction(rows), -unit(rows[:, :2]), atol=1e-5)
    assert rotation_steps_deg(rows).max() < 0.5  # 360 deg / 960 rows, no sign flips

    other_way = positions.circle(3 * SECOND, direction="counterclockwise", start_azimuth_deg=90,
                                 speed_m_s=np.pi / 2, radius_m=1.0, facing="travel")
    np.testing.assert_allclose(other_way[[0, 120], :2], [[0, 1], [1, 0]], atol=1e-5)  # 4 s a lap
    velocity = np.gradient(other_way[:, :2].astype(np.float64), axis=0)
    np.testing.assert_allclose(mouth_direction(other_way)[1:-1], unit(velocity)[1:-1], atol=1e-3)


def test_line_walks_at_its_speed_facing_where_it_goes():
    rows = positions.line(2 * SECOND, start=(1, -2), end=(1, 2), speed_m_s=1.2)
    np.testing.assert_allclose(rows[0, :3], [1, -2, 0])
    np.testing.assert_allclose(np.diff(rows[:, 1]), 1.2 / 120, atol=1e-6)
    np.testing.assert_allclose(mouth_direction(rows), [[0, 1]] * len(rows), atol=1e-6)
    spread = positions.line(SECOND, start=(2, -3, 0.1), end=(2, 3, 0.1), facing="listener")
    assert spread[-1, 1] == pytest.approx(3 - 6 / 120, abs=1e-5)  # the end as the audio ends
    np.testing.assert_allclose(mouth_direction(spread), -unit(spread[:, :2]), atol=1e-5)


def test_waypoints_pass_their_points_smoothly_with_slerped_orientations():
    times, points = [0, 1, 2, 3], [[1, 0, 0], [0, 1, 0.2], [-1, 0, 0], [0, -1.5, 0]]
    for interpolation in ("cubic", "linear"):
        rows = positions.waypoints(3 * SECOND + 1, times_s=times, positions=points,
                                   yaw_deg=[0, 90, 180, 270], interpolation=interpolation,
                                   max_speed_m_s=None)  # 2.2 m/s at its peak: a jog
        np.testing.assert_allclose(rows[[0, 120, 240, 360], :3], points, atol=1e-6)
        assert np.abs(np.diff(rows[:, :3], axis=0)).max() < 2.5 / 120  # no jumps (m per row)
        assert rotation_steps_deg(rows).max() < 1.0  # 90 deg per second, slerped
        np.testing.assert_allclose(mouth_direction(rows[[60, 180]]),
                                   unit([[1, 1], [-1, 1]]), atol=1e-6)  # halfway: 45, 135 deg
    def kink(rows):  # the largest change of velocity from one row to the next, in m per row
        return np.abs(np.diff(rows[:, :3].astype(np.float64), n=2, axis=0)).max()

    cubic = positions.waypoints(3 * SECOND + 1, times_s=times, positions=points,
                                max_speed_m_s=None)
    assert kink(cubic) < 1e-3 < kink(rows)  # the spline's speed changes smoothly, the segments'
    np.testing.assert_allclose(mouth_direction(cubic), -unit(cubic[:, :2]), atol=1e-5)


def test_waypoints_facing_travel_keeps_its_heading_through_a_pause():
    rows = positions.waypoints(4 * SECOND, times_s=[0, 1, 2, 4], positions=[[1, -1], [1, 0],
                               [1, 0], [0, 1]], interpolation="linear", facing="travel")
    np.testing.assert_allclose(mouth_direction(rows[:120]), [[0, 1]] * 120, atol=1e-6)
    np.testing.assert_allclose(mouth_direction(rows[120:240]), [[0, 1]] * 120, atol=1e-6)
    np.testing.assert_allclose(mouth_direction(rows[250:]), unit([[-1, 1]] * 230), atol=1e-6)


def test_waypoints_keep_to_walking_speed_unless_told_otherwise():
    points = [[1, 0], [0, 1], [-1, 0], [0, -1.5]]
    with pytest.raises(ValueError, match=r"2\.14 m/s at 2\.99 s, between waypoints 2 and 3 "
                                         r"\(times_s 2 and 3\).*max_speed_m_s = 1\.5"):
        positions.waypoints(3 * SECOND, times_s=[0, 1, 2, 3], positions=points)
    # The same places at half the pace (straight segments 0.71-0.9 m/s) are a walk.
    slow = positions.waypoints(6 * SECOND, times_s=[0, 2, 4, 6], positions=points)
    speed = np.linalg.norm(np.diff(slow[:, :3].astype(np.float64), axis=0), axis=-1) * 120
    assert 0.7 < speed.max() <= positions.WALKING_SPEED_LIMIT_M_S
    with pytest.raises(ValueError, match="1.00 m/s .* faster than max_speed_m_s = 0.8"):
        positions.waypoints(SECOND, times_s=[0, 1], positions=[[1, 0], [1, 1]],
                            interpolation="linear", max_speed_m_s=0.8)
    jog = positions.waypoints(3 * SECOND, times_s=[0, 1, 2, 3], positions=points,
                              max_speed_m_s=None)
    assert np.linalg.norm(np.diff(jog[:, :3], axis=0), axis=-1).max() * 120 > 2.0
    # Only the audio's span counts: a path that races after the audio has ended is fine.
    positions.waypoints(SECOND, times_s=[0, 1.5, 2], positions=[[1, 0], [1, 1], [9, 1]],
                        interpolation="linear")


def test_quaternions_given_to_waypoints_come_back_at_their_times():
    quaternion = [0.0, 0.3826834, 0.0, 0.9238795]  # a 45 degree nod, kept as given
    rows = positions.waypoints(SECOND, times_s=[-0.5, 1.5], positions=[[1, 0], [1, 0.5]],
                               orientations=[quaternion, quaternion])
    np.testing.assert_allclose(np.abs(rows[:, 3:]), np.abs([quaternion] * 120), atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: Static(distance_m=0), "distance_m must be > 0"),
    (lambda: Static(distance_m=-1), "distance_m must be > 0"),
    (lambda: Static(distance_m=0.1), "at least 0.2 m"),
    (lambda: Static(azimuth_deg=float("nan")), "azimuth_deg must be finite"),
    (lambda: Static(elevation_deg=120), "elevation_deg must be within"),
    (lambda: Circle(radius_m=0), "radius_m must be > 0"),
    (lambda: Circle(radius_m=0.1), "within 0.2 m of the listener"),
    (lambda: Circle(period_s=4, speed_m_s=1), "not both"),
    (lambda: Circle(period_s=-4), "period_s must be > 0"),
    (lambda: Circle(direction="left"), "direction must be one of clockwise"),
    (lambda: Circle(facing="north"), "facing must be one of listener, travel"),
    (lambda: Line(start=(1, 1), end=(1, 1)), "the same point"),
    (lambda: Line(start=(1, 1, 0), end=(1, 1, 2)), "vertical line"),
    (lambda: Line(start=(1,), end=(1, 1)), r"start must be \(x, y\) or \(x, y, z\)"),
    (lambda: Line(speed_m_s=float("inf")), "speed_m_s must be finite"),
    (lambda: Waypoints([0, 2, 1], [[1, 0]] * 3), r"times_s\[2\] = 1 is not after times_s\[1\]"),
    (lambda: Waypoints([0, 0, 1], [[1, 0]] * 3), "times_s must increase"),
    (lambda: Waypoints([0.5, 2], [[1, 0]] * 2), "starts at 0.5 s"),
    (lambda: Waypoints([0], [[1, 0]]), "at least 2 times"),
    (lambda: Waypoints([0, 1], [[1, 0]]), "positions must be 2 rows"),
    (lambda: Waypoints([0, 1], [[1, np.nan]] * 2), "positions must be finite"),
    (lambda: Waypoints([0, 1], [[1, 0], [1, 0, 0]]), "positions must be numbers.*equal length"),
    (lambda: Waypoints([0, 1], [[1, 0]] * 2, orientations=[[0, 0, 0, 0]] * 2), "all-zero"),
    (lambda: Waypoints([0, 1], [[1, 0]] * 2, yaw_deg=[0]), "yaw_deg must hold 2 angles"),
    (lambda: Waypoints([0, 1], [[1, 0]] * 2, interpolation="quadratic"), "interpolation must"),
    (lambda: Waypoints([0, 1], [[1, 0]] * 2, max_speed_m_s=0), "max_speed_m_s must be > 0"),
])
def test_bad_descriptions_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_paths_that_do_not_fit_the_audio_are_refused():
    with pytest.raises(ValueError, match="takes 2.5 s, but the audio lasts 4 s.*at most 0.75"):
        positions.line(4 * SECOND, start=(1, -1.5), end=(1, 1.5), speed_m_s=1.2)
    with pytest.raises(ValueError, match="the path ends at 2 s.*add a waypoint at or after 2.99"):
        positions.waypoints(3 * SECOND, times_s=[0, 2], positions=[[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"comes within 0.0\d\d m of the listener at 0.50 s"):
        positions.line(SECOND, start=(-1, 0), end=(1, 0))  # straight through the head
    with pytest.raises(ValueError, match="never moves"):
        positions.waypoints(400, times_s=[0, 1], positions=[[1, 0], [1, 0]], facing="travel")
    for bad in (0, -400, 1.5):
        with pytest.raises(ValueError, match="num_samples must be a positive whole number"):
            Static().rows(bad)


def test_descriptions_load_from_json(tmp_path):
    description = {"times_s": [0, 1.5], "positions": [[1, 0, 0], [0, 1, 0.1]], "facing": "travel"}
    (tmp_path / "walk.json").write_text(json.dumps(description))
    loaded = load_path(tmp_path / "walk.json")
    assert loaded == Waypoints(**description)
    np.testing.assert_array_equal(loaded.rows(SECOND), Waypoints(**description).rows(SECOND))
    (tmp_path / "circle.json").write_text('{"kind": "circle", "radius_m": 2, "period_s": 4}')
    assert load_path(tmp_path / "circle.json") == Circle(radius_m=2, period_s=4)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a JSON file"),
    ("[1, 2]", "expected a JSON object"),
    ('{"kind": "spiral"}', "kind must be one of static, circle, line, waypoints"),
    ('{"kind": "circle", "radius": 2}', "unknown key.*radius for kind 'circle'"),
    ('{"times_s": [0, 1]}', "positions"),
    ('{"times_s": [1, 0], "positions": [[1, 0], [1, 1]]}', "times_s must increase"),
])
def test_bad_path_files_are_refused_by_name(tmp_path, text, message):
    (tmp_path / "path.json").write_text(text)
    with pytest.raises(ValueError, match=f"path.json: .*{message}"):
        load_path(tmp_path / "path.json")
    with pytest.raises(FileNotFoundError, match="no such path file"):
        load_path(tmp_path / "missing.json")
