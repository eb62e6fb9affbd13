"""The simulator's world: mixed heads and free-field scenes, walking talkers, repeatable sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from binauralgrad.constants import DRY_WALL_REFLECTION, WALL_REFLECTION
from binauralgrad.data.room import random_room, reverberation_time
from binauralgrad.data.synthetic import (
    SETTINGS_FILE,
    dataset_room,
    make_synthetic_dataset,
    sequence_scene,
    simulate_sequence,
)
from binauralgrad.data.trajectory import WALKING_SPEED, random_trajectory, walk
from binauralgrad.data.world import MIT_KEMAR, SPHERICAL, World
from binauralgrad.io.audio import read_wav

pytest.importorskip("h5py")
from test_data_hrtf import write_toy_sofa  # noqa: E402 - needs h5py


@pytest.fixture(scope="module")
def toy_sofa(tmp_path_factory):
    return write_toy_sofa(tmp_path_factory.mktemp("world") / "toy.sofa")


def test_world_checks_its_settings(tmp_path):
    with pytest.raises(ValueError, match="at least one head"):
        World(())
    with pytest.raises(ValueError, match="anechoic_share"):
        World(anechoic_share=1.5)
    with pytest.raises(FileNotFoundError, match="no such SOFA file"):
        World((str(tmp_path / "missing.sofa"),))
    assert World().settings() == {} and World().is_default
    with pytest.raises(ValueError, match="wall_reflection"):
        World(wall_reflection=(0.9, 0.5))


def test_drier_walls_are_recorded_and_shorten_the_reverberation():
    dry = World(wall_reflection=DRY_WALL_REFLECTION)
    assert dry.settings() == {"wall_reflection": list(DRY_WALL_REFLECTION)}
    assert World.from_settings(json.loads(json.dumps(dry.settings()))) == dry
    rooms = [random_room(np.random.default_rng(seed), reference_distance=0.5,
                         wall_reflection=reflection)
             for reflection in (WALL_REFLECTION, DRY_WALL_REFLECTION) for seed in (5,)]
    # The same draws: the same room and listener, only the walls absorb more.
    np.testing.assert_array_equal(rooms[0].size, rooms[1].size)
    assert reverberation_time(rooms[1].size, rooms[1].reflection)[0] < \
        0.7 * reverberation_time(rooms[0].size, rooms[0].reflection)[0]
    assert np.sum(rooms[1].tail ** 2) < np.sum(rooms[0].tail ** 2)


def test_the_default_world_keeps_the_original_scenes():
    # A data set made before measured heads existed regenerates unchanged: the default world
    # draws nothing, and the scene's own draws are untouched.
    first = simulate_sequence(3.0, seed=11)
    again = simulate_sequence(3.0, seed=11, world=World())
    np.testing.assert_array_equal(first["binaural"], again["binaural"])


def test_heads_and_free_field_mix_across_sequences(tmp_path, toy_sofa):
    world = World((SPHERICAL, str(toy_sofa)), anechoic_share=0.5)
    make_synthetic_dataset(tmp_path, train_minutes=0.8, test_minutes=0.2, sequences=8, seed=3,
                           world=world, progress=False)
    settings = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert settings["heads"] == [SPHERICAL, str(toy_sofa)] and settings["anechoic_share"] == 0.5
    scenes = [sequence_scene(tmp_path, "trainset", f"subject{i}") for i in range(1, 9)]
    assert {head for head, _ in scenes} == {SPHERICAL, str(toy_sofa)}
    assert {anechoic for _, anechoic in scenes} == {True, False}


def test_a_measured_head_scene_regenerates_identically(tmp_path, toy_sofa):
    world = World((str(toy_sofa),), anechoic_share=0.0, wall_reflection=DRY_WALL_REFLECTION)
    options = dict(train_minutes=0.1, test_minutes=0.1, sequences=1, seed=5, world=world,
                   progress=False)
    make_synthetic_dataset(tmp_path / "a", **options)
    make_synthetic_dataset(tmp_path / "b", **options)
    room = dataset_room(tmp_path / "a", "trainset", "subject1")  # drawn with the set's walls
    assert DRY_WALL_REFLECTION[0] <= room.reflection.min() <= room.reflection.max() <= \
        DRY_WALL_REFLECTION[1]
    for folder in ("trainset/subject1", "testset/validation_sequence"):
        np.testing.assert_array_equal(read_wav(tmp_path / "a" / folder / "binaural.wav"),
                                      read_wav(tmp_path / "b" / folder / "binaural.wav"))
    make_synthetic_dataset(tmp_path / "a", **options)  # the same settings: kept as it is
    with pytest.raises(FileExistsError, match="other settings"):
        make_synthetic_dataset(tmp_path / "a", **{**options, "world": World()})
    # The head changes what the ears hear, not the talker or the positions.
    sphere = simulate_sequence(3.0, seed=5, world=World(wall_reflection=DRY_WALL_REFLECTION))
    measured = simulate_sequence(3.0, seed=5, world=world)
    np.testing.assert_array_equal(sphere["mono"], measured["mono"])
    assert np.abs(sphere["binaural"] - measured["binaural"]).max() > 1e-3


def test_the_system_kemar_head_is_named_not_pathed(tmp_path):
    world = World((MIT_KEMAR,))
    assert world.settings()["heads"] == [MIT_KEMAR]  # portable across machines


@pytest.mark.parametrize("seed", range(6))
def test_talkers_walk_at_walking_speeds_and_turn_smoothly(seed):
    room = random_room(np.random.default_rng(seed), reference_distance=0.5)
    positions, _ = random_trajectory(np.random.default_rng(100 + seed), 120 * 40,
                                     bounds=room.bounds())
    velocity = np.diff(positions[:, :2], axis=0) * 120
    speed = np.linalg.norm(velocity, axis=1)
    assert speed.max() <= WALKING_SPEED + 1e-9 and speed.mean() < 1.0
    moving = speed[1:] > 0.2
    turn = np.abs(np.angle(np.exp(1j * np.diff(np.arctan2(velocity[:, 1], velocity[:, 0])))))
    assert turn[moving].max() * 120 <= 2.5 + 1e-6  # rad/s: no corners
    low, high = room.bounds()
    assert np.all(positions[:, :3] >= low - 1e-9) and np.all(positions[:, :3] <= high + 1e-9)
    distance = np.linalg.norm(positions[:, :2], axis=1)
    assert distance.min() > 0.3 and distance.max() < 3.2


def test_a_walk_towards_a_wall_turns_before_it():
    speed, turning = np.full(120 * 10, WALKING_SPEED), np.zeros(120 * 10)
    bounds = (np.array([-2.0, -2.0, -1.0]), np.array([2.0, 2.0, 1.0]))
    plane = walk(np.array([0.0, 1.0]), heading=0.0, speed=speed, turning=turning, bounds=bounds)
    assert plane[:, 0].max() < 2.0  # it never reaches the wall ahead
    assert np.linalg.norm(plane[-1] - plane[0]) > 0.5  # and still walks on
