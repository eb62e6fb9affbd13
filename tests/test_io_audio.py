"""Audio files: validated reads, any format and rate to 48 kHz mono, writes by suffix."""

from __future__ import annotations

import numpy as np
import pytest

from binauralgrad.io.audio import limit_peak, read_mono, read_wav, resample, write_audio, write_wav
from binauralgrad.io.positions import read_positions, write_positions


def test_round_trip_and_refusal_to_overwrite(tmp_path):
    audio = np.random.default_rng(0).standard_normal((2, 800)).astype(np.float32) * 0.1
    path = write_wav(tmp_path / "a.wav", audio)
    np.testing.assert_array_equal(read_wav(path, channels=2), audio)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_wav(path, audio)
    write_positions(tmp_path / "p.txt", np.zeros((2, 7)))
    assert read_positions(tmp_path / "p.txt", num_samples=800).shape == (2, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "p.txt"]  # no temp files


def tone(seconds: float, rate: int, frequency: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(
        np.float32)


@pytest.mark.parametrize("suffix, rate, subtype", [(".flac", 44100, "PCM_16"),
                                                   (".ogg", 22050, "VORBIS"),
                                                   (".wav", 16000, "PCM_16")])
def test_recordings_in_any_format_and_rate_come_back_mono_at_48k(tmp_path, suffix, rate, subtype):
    import soundfile

    path = tmp_path / f"talk{suffix}"
    soundfile.write(str(path), tone(0.5, rate), rate, subtype=subtype)
    mono, file_rate = read_mono(path)
    assert file_rate == rate and mono.dtype == np.float32
    assert mono.shape == (-(-len(tone(0.5, rate)) * 48000 // rate),)
    # The tone keeps its pitch, level and timing (zero-phase resampling: no delay).
    np.testing.assert_allclose(mono[2000:-2000], tone(0.5, 48000)[2000:len(mono) - 2000],
                               atol=0.02 if suffix == ".ogg" else 2e-3)


def test_resampling_keeps_an_impulse_in_place():
    impulse = np.zeros(44100, dtype=np.float32)
    impulse[10000] = 1.0
    out = resample(impulse, 44100, 48000)
    assert len(out) == 48000 and abs(int(np.argmax(out)) - 10000 * 48000 / 44100) < 1
    np.testing.assert_array_equal(resample(impulse, 48000, 48000), impulse)
    with pytest.raises(ValueError, match="from_rate must be a positive whole number"):
        resample(impulse, 0, 48000)


def test_stereo_needs_a_channel_or_a_downmix(tmp_path):
    stereo = np.stack([tone(0.1, 48000), -0.5 * tone(0.1, 48000)])
    path = write_wav(tmp_path / "stereo.wav", stereo)
    with pytest.raises(ValueError, match="2 channels.*--channel N.*--downmix"):
        read_mono(path)
    np.testing.assert_array_equal(read_mono(path, channel=2)[0], stereo[1])
    np.testing.assert_allclose(read_mono(path, downmix=True)[0], stereo.mean(0), atol=1e-7)
    with pytest.raises(ValueError, match="no channel 3; it has 2"):
        read_mono(path, channel=3)
    with pytest.raises(ValueError, match="not both"):
        read_mono(path, channel=1, downmix=True)


def test_bad_recordings_are_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        read_mono(tmp_path / "missing.wav")
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(ValueError, match="notes.wav: not a readable audio file"):
        read_mono(tmp_path / "notes.wav")
    write_wav(tmp_path / "empty.wav", np.zeros((1, 0)))
    with pytest.raises(ValueError, match="empty.wav: no audio samples"):
        read_mono(tmp_path / "empty.wav")
    write_wav(tmp_path / "nan.wav", np.full((1, 10), np.nan))
    with pytest.raises(ValueError, match="NaN or inf"):
        read_mono(tmp_path / "nan.wav")


def test_loud_audio_is_scaled_not_clipped():
    audio = np.array([[0.5, -2.0, 1.0]], dtype=np.float32)
    limited, gain = limit_peak(audio)
    assert gain == pytest.approx(0.99 / 2.0) and np.abs(limited).max() == pytest.approx(0.99)
    np.testing.assert_allclose(limited / gain, audio, rtol=1e-6)  # the same shape of signal
    for fits in (audio / 4, audio / 2.01):  # within full scale (even above the ceiling): as is
        assert limit_peak(fits) == (fits, 1.0)


def test_outputs_are_written_in_the_format_their_suffix_names(tmp_path):
    import soundfile

    audio = np.stack([tone(0.1, 44100), tone(0.1, 44100, 300)])
    for suffix, subtype in ((".wav", "FLOAT"), (".flac", "PCM_24"), (".ogg", "VORBIS")):
        path = write_audio(tmp_path / f"out{suffix}", audio, sample_rate=44100)
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, subtype)
    with pytest.raises(ValueError, match="cannot tell the format from '.mp4'"):
        write_audio(tmp_path / "out.mp4", audio)
