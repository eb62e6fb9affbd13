"""Tests for the synthetic simulator: physical plausibility, determinism, layout, speed."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.data import find_sequences, head, load_sequence, synthetic
from binauralgrad.data.blocks import delay_line, frame_filter, ramp_between_hops, smooth_noise
from binauralgrad.data.room import image_sources, random_room, reverberation_time
from binauralgrad.data.speech import speech_like_signal
from binauralgrad.data.synthetic import make_synthetic_dataset, render_binaural
from binauralgrad.data.trajectory import attitude_quaternion, random_trajectory
from binauralgrad.dsp import SPEED_OF_SOUND
from binauralgrad.io.audio import read_wav
from binauralgrad.io.positions import read_positions

FS = SAMPLE_RATE


def fixed_talker(azimuth_deg, distance=1.5, frames=120):
    """(frames, 7) rows: the talker's mouth at ear height, facing the listener."""
    azimuth = np.deg2rad(azimuth_deg)
    xyz = [distance * np.cos(azimuth), distance * np.sin(azimuth), -0.02]  # mouth at z=-0.22
    quaternion = attitude_quaternion(np.array(azimuth + np.pi), np.array(0.0), np.array(0.0))
    return np.tile(np.concatenate([xyz, quaternion]), (frames, 1))


def interaural_lag(ears, max_lag=60):
    """Samples by which the left ear lags the right (positive: the right ear hears first)."""
    size = 2 * ears.shape[1]
    spectra = np.fft.rfft(ears, n=size)
    correlation = np.fft.irfft(spectra[0] * np.conj(spectra[1]), n=size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(np.r_[correlation[: max_lag + 1], correlation[-max_lag:]])])


def band_energy(ears, low, high):
    spectrum = np.abs(np.fft.rfft(ears, axis=1)) ** 2
    frequencies = np.fft.rfftfreq(ears.shape[1], 1 / FS)
    return spectrum[:, (frequencies >= low) & (frequencies < high)].sum(axis=1)


@pytest.fixture(scope="module")
def speech():
    return speech_like_signal(np.random.default_rng(0), 120 * 400)


@pytest.mark.parametrize("azimuth", [60.0, -60.0, 120.0])
def test_the_louder_ear_is_on_the_talkers_side(speech, azimuth):
    room = random_room(np.random.default_rng(1), reference_distance=0.5)
    near = 1 if azimuth > 0 else 0  # right ear on +y
    for ears in (
        render_binaural(speech, fixed_talker(azimuth)),
        render_binaural(speech, fixed_talker(azimuth), room=room),
    ):
        energy = np.sum(ears.astype(np.float64) ** 2, axis=1)
        assert energy[near] > energy[1 - near]
    # The head shadows high frequencies far more than low ones.
    ears = render_binaural(speech, fixed_talker(azimuth))
    ild_high = 10 * np.log10(
        band_energy(ears, 3000, 8000)[near] / band_energy(ears, 3000, 8000)[1 - near]
    )
    ild_low = 10 * np.log10(
        band_energy(ears, 100, 500)[near] / band_energy(ears, 100, 500)[1 - near]
    )
    assert ild_high > 5.0 and ild_high > ild_low + 4.0


@pytest.mark.parametrize("azimuth", [30.0, 90.0, -45.0])
def test_direct_sound_itd_has_the_geometrys_sign_and_size(azimuth):
    noise = np.random.default_rng(2).standard_normal(120 * 400).astype(np.float32) * 0.1
    positions = fixed_talker(azimuth)
    lag = interaural_lag(render_binaural(noise, positions))
    mouth = np.array([positions[0, 0], positions[0, 1], -0.22])
    expected = (head.path_length(mouth, -1.0) - head.path_length(mouth, 1.0)) / SPEED_OF_SOUND * FS
    assert np.sign(lag) == np.sign(azimuth)
    assert abs(lag - expected) <= 1.5
    assert abs(lag) / FS < 0.8e-3
    # Woodworth's far-field formula, a / c (theta + sin theta), is close at 1.5 m.
    theta = np.deg2rad(min(abs(azimuth), 180 - abs(azimuth)))
    woodworth = head.HEAD_RADIUS / SPEED_OF_SOUND * (theta + np.sin(theta)) * FS
    assert abs(abs(expected) - woodworth) < 2.0
    room = random_room(np.random.default_rng(3), reference_distance=0.5)
    reverberant = render_binaural(noise, fixed_talker(azimuth, distance=1.0), room=room)
    assert np.sign(interaural_lag(reverberant)) == np.sign(azimuth)


def test_head_model_pieces():
    far = np.array([100.0, 0.0, -0.22])  # straight ahead: both ears equal
    assert head.path_length(far, -1.0) == pytest.approx(head.path_length(far, 1.0))
    right = np.array([0.0, 1.0, -0.22])
    assert head.path_length(right, 1.0) == pytest.approx(1.0 - head.HEAD_RADIUS)
    around = np.sqrt(1.0 - head.HEAD_RADIUS**2) + head.HEAD_RADIUS * (
        np.pi - np.arccos(head.HEAD_RADIUS)
    )
    assert head.path_length(right, -1.0) == pytest.approx(around)
    angles = np.deg2rad([0.0, 90.0, 150.0])
    response = np.abs(head.shadow_response(angles, np.array([50.0, 20000.0])))
    np.testing.assert_allclose(response[:, 0], 1.0, atol=0.01)  # no shadow at low frequencies
    assert 20 * np.log10(response[0, 1]) > 5.0 and 20 * np.log10(response[2, 1]) < -15.0


def test_room_pieces():
    rng = np.random.default_rng(4)
    room = random_room(rng, reference_distance=0.5)
    source = np.array([[1.0, 0.5, 0.0]])
    images = image_sources(room, source, np.array([[-1.0, 0.0, 0.0]]))
    assert len(images) == 25 and images[0][2] == 1.0
    np.testing.assert_allclose(images[0][0], source)
    # The image in the wall at x = 0 (room coordinates) sits mirrored behind it.
    wall = -room.listener[0]
    mirrored = [image for image in images if np.isclose(image[0][0, 0], 2 * wall - source[0, 0])]
    assert any(
        np.allclose(image[0][0, 1:], source[0, 1:]) and image[1][0, 0] == 1.0 for image in mirrored
    )
    rt60, _ = reverberation_time(room.size, room.reflection)
    assert 0.15 < rt60 < 1.0 and room.tail.shape[0] == 2
    low, high = room.bounds()
    assert np.all(low < 0) and np.all(high > 0)


def test_trajectories_are_smooth_and_in_range():
    room = random_room(np.random.default_rng(5), reference_distance=0.5)
    positions, facing = random_trajectory(np.random.default_rng(6), 120 * 20, bounds=room.bounds())
    distance = np.linalg.norm(positions[:, :2], axis=1)
    assert distance.min() >= 0.4 - 1e-9 and distance.max() <= 3.0 + 1e-9
    assert np.all(positions[:, :3] >= room.bounds()[0]) and np.all(
        positions[:, :3] <= room.bounds()[1]
    )
    np.testing.assert_allclose(np.linalg.norm(positions[:, 3:], axis=1), 1.0)
    step = np.linalg.norm(np.diff(positions[:, :3], axis=0), axis=1) * 120
    assert step.max() < 3.0  # m/s: a walking talker, no jumps
    towards = -positions[:, :2] / distance[:, None]
    assert np.mean(np.sum(facing[:, :2] * towards, axis=1) > 0) > 0.7  # mostly facing the listener


def test_speech_like_signal():
    first = speech_like_signal(np.random.default_rng(7), 4 * FS)
    again = speech_like_signal(np.random.default_rng(7), 4 * FS)
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and np.abs(first).max() == pytest.approx(0.3)
    frames = np.sqrt(np.mean(first[: 4 * FS // 480 * 480].reshape(-1, 480) ** 2, axis=1))
    assert 0.02 < np.mean(frames < 1e-3) < 0.7  # pauses, but mostly talking
    spectrum = np.abs(np.fft.rfft(first)) ** 2
    frequencies = np.fft.rfftfreq(len(first), 1 / FS)
    assert spectrum[frequencies < 4000].sum() > 0.9 * spectrum.sum()


def test_blocks():
    signal = np.random.default_rng(8).standard_normal(5000)
    unity = np.ones((frame_count_for(5000), 257))
    np.testing.assert_allclose(frame_filter(signal, unity, window_length=512), signal, atol=1e-5)
    values = np.random.default_rng(10).standard_normal((2, 12))
    expected = [np.interp(np.arange(4700), np.arange(12) * 400 + 200, row) for row in values]
    np.testing.assert_allclose(ramp_between_hops(values, 4700, hop=400), expected, atol=1e-12)
    source = np.random.default_rng(11).standard_normal(3000).astype(np.float32)
    delayed = delay_line(source, np.full(3000, 10.25), np.full(3000, 0.5), max_delay=10.25)
    np.testing.assert_allclose(
        delayed[11:], 0.5 * (0.75 * source[1:-10] + 0.25 * source[:-11]), atol=1e-6
    )
    assert np.all(delayed[:10] == 0)  # silence before the source starts
    wander = smooth_noise(np.random.default_rng(9), 1000, cutoff=1.0, rate=120)
    assert abs(wander.std() - 1) < 1e-9 and np.abs(np.diff(wander)).max() < 0.2


def frame_count_for(num_samples):
    from binauralgrad.data.blocks import frame_count

    return frame_count(num_samples, window_length=512)


def test_make_synthetic_dataset_layout_levels_and_determinism(tmp_path):
    folders = make_synthetic_dataset(
        tmp_path / "a", train_minutes=0.1, test_minutes=0.1, sequences=2, seed=3, progress=False
    )
    names = [
        folder.relative_to(tmp_path / "a").as_posix() for folder in find_sequences(tmp_path / "a")
    ]
    assert names == [
        "testset/subject1",
        "testset/subject2",
        "testset/validation_sequence",
        "trainset/subject1",
        "trainset/subject2",
    ]
    assert len(folders) == 5
    for folder in folders:
        sequence = load_sequence(folder)
        num_samples = sequence["mono"].shape[1]
        assert num_samples >= 3 * FS and num_samples % 400 == 0
        assert soundfile.info(str(folder / "binaural.wav")).subtype == "FLOAT"
        assert np.abs(sequence["mono"]).max() == pytest.approx(0.3, abs=1e-3)  # + noise floor
        assert 0.01 < np.abs(sequence["binaural"]).max() < 0.9
        read_positions(folder / "rx_positions.txt", num_samples=num_samples)
    make_synthetic_dataset(
        tmp_path / "b", train_minutes=0.1, test_minutes=0.1, sequences=2, seed=3, progress=False
    )
    make_synthetic_dataset(
        tmp_path / "c", train_minutes=0.1, test_minutes=0.1, sequences=2, seed=4, progress=False
    )
    same = read_wav(tmp_path / "b" / "trainset" / "subject2" / "binaural.wav")
    np.testing.assert_array_equal(
        same, read_wav(tmp_path / "a" / "trainset" / "subject2" / "binaural.wav")
    )
    other = read_wav(tmp_path / "c" / "trainset" / "subject2" / "binaural.wav")
    assert not np.array_equal(other[:, :1000], same[:, :1000])


def test_make_synthetic_with_speech_files(tmp_path):
    speech_dir = tmp_path / "speech"
    speech_dir.mkdir()
    tone = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
    soundfile.write(speech_dir / "a.wav", tone, 16000)
    soundfile.write(speech_dir / "b.flac", np.stack([tone, tone], 1), 16000)
    folders = make_synthetic_dataset(
        tmp_path / "out",
        train_minutes=0.05,
        test_minutes=0.05,
        sequences=1,
        seed=0,
        speech_dir=speech_dir,
        progress=False,
    )
    mono = load_sequence(folders[0])["mono"][0]
    spectrum = np.abs(np.fft.rfft(mono))
    assert np.fft.rfftfreq(len(mono), 1 / FS)[np.argmax(spectrum)] == pytest.approx(220, abs=1)
    (speech_dir / "c.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(ValueError, match="c.wav: not a readable audio file"):
        make_synthetic_dataset(
            tmp_path / "x",
            train_minutes=0.05,
            test_minutes=0.05,
            sequences=3,
            speech_dir=speech_dir,
            progress=False,
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no .wav"):
        make_synthetic_dataset(tmp_path / "y", speech_dir=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such speech folder"):
        make_synthetic_dataset(tmp_path / "y", speech_dir=tmp_path / "missing")


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"train_minutes": 0}, "train_minutes must be a positive"),
        ({"test_minutes": float("nan")}, "test_minutes must be a positive"),
        ({"sequences": 0}, "sequences must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_make_synthetic_bad_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_dataset(tmp_path, **arguments)


def test_dataset_room_gives_back_the_room_a_sequence_was_rendered_in(dataset_dir):
    folder = dataset_dir / "testset" / "subject1"
    mono, reference = read_wav(folder / "mono.wav")[0], read_wav(folder / "binaural.wav")
    positions = read_positions(folder / "tx_positions.txt", num_samples=len(mono))
    room = synthetic.dataset_room(dataset_dir, "testset", "subject1")
    error = np.mean((render_binaural(mono, positions, room=room) - reference) ** 2)
    other = random_room(np.random.default_rng(5), reference_distance=synthetic.REFERENCE_DISTANCE)
    other_error = np.mean((render_binaural(mono, positions, room=other) - reference) ** 2)
    # Only the sensors' noise (and its echo through the room) is left with the true room.
    assert error < 1e-3 * np.mean(reference**2) < other_error
    with pytest.raises(ValueError, match="no sequence"):
        synthetic.dataset_room(dataset_dir, "testset", "subject9")
