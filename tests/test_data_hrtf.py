"""Measured heads: SOFA reading, free-field equalisation, alignment, interpolation, convention."""

from __future__ import annotations

import numpy as np
import pytest

from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.data import hrtf
from binauralgrad.data.blocks import varying_fir
from binauralgrad.data.render import render_binaural

h5py = pytest.importorskip("h5py")

SOFA_RATE = 44100
MEASURED_DELAY = 60  # samples of the measurement chain's latency at SOFA_RATE


def toy_responses(azimuths: np.ndarray, elevations: np.ndarray) -> np.ndarray:
    """(M, 2, 256) a toy head at 44.1 kHz, SOFA's convention (+90 azimuth is the left):
    each ear leads or lags by a sine of the azimuth, the far ear is duller and quieter, and a
    shared 'loudspeaker' filter and latency colour every measurement."""
    taps = np.arange(256)
    loudspeaker = np.array([1.0, -0.5, 0.2])
    out = np.zeros((len(azimuths), 2, 256))
    for index, (azimuth, elevation) in enumerate(zip(azimuths, elevations, strict=True)):
        lateral = np.sin(np.deg2rad(azimuth)) * np.cos(np.deg2rad(elevation))  # + = left
        for ear, side in ((0, 1.0), (1, -1.0)):  # receiver 0 is the left ear
            lead = 12.0 * side * lateral  # samples at 44.1 kHz
            gain = 1.0 + 0.5 * side * lateral
            dull = 0.6 * max(0.0, -side * lateral)  # a one-pole low-pass on the far ear
            arrival = MEASURED_DELAY - lead
            pulse = np.sinc(taps - arrival) * np.exp(-(((taps - arrival) / 24.0) ** 2))
            pulse = np.convolve(pulse, [1.0 - dull, dull])[:256] * gain
            out[index, ear] = np.convolve(pulse, loudspeaker)[:256]
    return out


def write_toy_sofa(path, *, receivers_swapped: bool = False):
    azimuths = np.concatenate([np.arange(0, 360, 15), np.arange(0, 360, 30), [0.0]])
    elevations = np.concatenate([np.zeros(24), np.full(12, 30.0), [90.0]])
    ir = toy_responses(azimuths, elevations)
    receivers = np.array([[0.0, 0.09, 0.0], [0.0, -0.09, 0.0]])[..., None]
    if receivers_swapped:
        ir, receivers = ir[:, ::-1], receivers[::-1]
    with h5py.File(path, "w") as sofa:
        sofa.attrs["Conventions"] = "SOFA"
        sofa.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
        sofa.create_dataset("Data.IR", data=ir)
        sofa.create_dataset("Data.SamplingRate", data=[float(SOFA_RATE)])
        sofa.create_dataset("Data.Delay", data=np.zeros((1, 2)))
        sofa.create_dataset("ReceiverPosition", data=receivers)
        source = sofa.create_dataset("SourcePosition", data=np.stack(
            [azimuths, elevations, np.full(len(azimuths), 1.2)], axis=-1))
        source.attrs["Type"] = "spherical"
        source.attrs["Units"] = "degree, degree, metre"
    return path


@pytest.fixture(scope="module")
def toy_sofa(tmp_path_factory):
    return write_toy_sofa(tmp_path_factory.mktemp("sofa") / "toy.sofa")


@pytest.fixture(scope="module")
def toy_head(toy_sofa):
    return hrtf.load_head(toy_sofa)


def test_read_sofa_gives_left_then_right_in_the_listener_frame(tmp_path, toy_sofa):
    sofa = hrtf.read_sofa(toy_sofa)
    assert sofa["rate"] == SOFA_RATE and sofa["ir"].shape == (37, 2, 256)
    left = np.argmin(np.abs(np.arange(0, 360, 15) - 90))  # SOFA azimuth +90: the left
    np.testing.assert_allclose(sofa["directions"][left], [0.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(sofa["directions"][-1], [0.0, 0.0, 1.0], atol=1e-12)
    energy = np.sum(sofa["ir"][left] ** 2, axis=-1)
    assert energy[0] > 2 * energy[1]  # the left ear hears a source on the left louder
    swapped = hrtf.read_sofa(write_toy_sofa(tmp_path / "swapped.sofa", receivers_swapped=True))
    np.testing.assert_array_equal(swapped["ir"], sofa["ir"])


@pytest.mark.parametrize("content, message", [
    ("no file", "no such SOFA file"), ("not hdf5", "not a SOFA"), ("other", "SimpleFreeField")])
def test_read_sofa_refuses_what_it_cannot_render(tmp_path, content, message):
    path = tmp_path / "bad.sofa"
    if content == "not hdf5":
        path.write_text("hello")
    elif content == "other":
        with h5py.File(path, "w") as sofa:
            sofa.attrs["SOFAConventions"] = "GeneralFIR"
    error = FileNotFoundError if content == "no file" else ValueError
    with pytest.raises(error, match=message):
        hrtf.read_sofa(path)


def test_equalised_front_is_a_unit_impulse_at_the_head_centre(toy_head):
    assert toy_head.responses.shape[1:] == (2, hrtf.RESPONSE_TAPS)
    delays, responses = toy_head.at(np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(delays, 0.0, atol=1e-6)  # latency and loudspeaker are gone
    spectrum = np.fft.rfft(responses[0], n=1024)
    band = np.fft.rfftfreq(1024, 1 / SAMPLE_RATE) < 0.9 * SOFA_RATE / 2
    phase = np.exp(-2j * np.pi * np.fft.rfftfreq(1024) * hrtf.LEAD_TAPS)
    np.testing.assert_allclose(spectrum[:, band], np.broadcast_to(phase[band], (2, band.sum())),
                               atol=0.05)  # unit gain, pure delay to tap LEAD_TAPS


def test_arrival_delays_keep_the_interaural_lead(toy_head):
    index = np.argmin(np.linalg.norm(toy_head.directions - [0.0, 1.0, 0.0], axis=-1))
    delays = toy_head.delays[index]  # a source on the right (SOFA azimuth 270)
    lead, dulling = 12.0 * SAMPLE_RATE / SOFA_RATE, 0.6 * SAMPLE_RATE / SOFA_RATE
    # The far (left) ear's low-pass adds its own group delay, 0.6 samples at 44.1 kHz.
    np.testing.assert_allclose(delays, [lead + dulling, -lead], atol=0.1)
    # Aligned, the response peaks at its lead tap whatever the direction.
    assert np.abs(toy_head.responses[index]).argmax(-1).tolist() == [hrtf.LEAD_TAPS] * 2


def test_blend_is_continuous_and_exact_at_measured_directions(toy_head):
    index, weights = toy_head.blend_weights(toy_head.directions[:24])
    np.testing.assert_allclose(weights[:, 0], 1.0, atol=1e-5)
    np.testing.assert_array_equal(index[:, 0], np.arange(24))
    angle = np.linspace(0.0, 2 * np.pi, 5000)
    elevation = 0.3 + 0.2 * np.sin(3 * angle)  # a wavy path across both rings of directions
    path = np.stack([np.cos(angle) * np.cos(elevation), np.sin(angle) * np.cos(elevation),
                     np.sin(elevation)], axis=-1)
    delays, responses = toy_head.at(path)
    assert np.abs(np.diff(delays, axis=0)).max() < 0.2  # samples per 0.07 degree step
    jump = np.abs(np.diff(responses, axis=0)).max()
    assert jump < 0.05 * np.abs(responses).max()


def test_varying_fir_is_an_exact_convolution_when_constant_and_smooth_when_not():
    rng = np.random.default_rng(0)
    signal, response = rng.standard_normal(4000), rng.standard_normal(60)
    filtered = varying_fir(signal, np.tile(response, (10, 1)), hop=400)
    np.testing.assert_allclose(filtered, np.convolve(signal, response)[:4000], atol=1e-5)
    steady = np.ones(12000)
    gains = np.linspace(0.0, 1.0, 30)[:, None] * np.eye(1, 8)  # a gain ramping up
    ramp = varying_fir(steady, gains, hop=400)
    assert np.abs(np.diff(ramp)).max() < 1.01 / 400  # no step larger than the ramp's slope


def static_talker(azimuth_deg: float, distance: float = 1.5, frames: int = 120) -> np.ndarray:
    azimuth = np.deg2rad(azimuth_deg)
    yaw = azimuth + np.pi  # facing the listener
    row = [distance * np.cos(azimuth), distance * np.sin(azimuth), 0.2,
           0.0, 0.0, -np.sin(yaw / 2), np.cos(yaw / 2)]
    return np.tile(row, (frames, 1))


def interaural_lag(ears: np.ndarray, max_lag: int = 60) -> int:
    """Samples by which the left ear lags the right (positive: the right ear hears first)."""
    size = 2 * ears.shape[1]
    spectra = np.fft.rfft(ears, n=size)
    correlation = np.fft.irfft(spectra[0] * np.conj(spectra[1]), n=size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(np.r_[correlation[: max_lag + 1], correlation[-max_lag:]])])


def kemar_or_skip() -> hrtf.MeasuredHead:
    try:
        return hrtf.load_head(hrtf.system_sofa())
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.mark.parametrize("azimuth", [60.0, -60.0, 120.0])
def test_a_source_on_the_right_is_louder_and_earlier_in_the_right_ear(toy_head, azimuth):
    noise = np.random.default_rng(1).standard_normal(120 * 400).astype(np.float32) * 0.1
    near = 1 if azimuth > 0 else 0
    for head in (toy_head, kemar_or_skip()):
        ears = render_binaural(noise, static_talker(azimuth), measured=head)
        energy = np.sum(ears.astype(np.float64) ** 2, axis=1)
        assert energy[near] > 1.5 * energy[1 - near]
        assert np.sign(interaural_lag(ears)) == np.sign(azimuth)


def test_mit_kemar_is_free_field_equalised_with_a_plausible_itd():
    kemar = kemar_or_skip()
    front, _ = kemar.at(np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(front, 0.0, atol=0.05)
    side, _ = kemar.at(np.array([[0.0, 1.0, 0.0]]))
    itd_us = (side[0, 0] - side[0, 1]) / SAMPLE_RATE * 1e6
    assert 550 < itd_us < 850  # KEMAR's low-frequency ITD at 90 degrees
