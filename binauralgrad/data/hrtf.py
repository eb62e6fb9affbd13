"""Measured heads for the simulator: SOFA (AES69) HRIRs, free-field equalised and interpolable.

A measured set is turned once into what rendering needs (`MeasuredHead`):
- resampled to 48 kHz;
- free-field equalised: each ear's responses are divided by that ear's frontal response
  (regularised), so that the measurement chain's latency, loudspeaker and microphone responses
  and polarity cancel, and the frontal direction becomes a pure impulse: a frontal source then
  arrives at the head centre's r / c with unit gain, and every other direction keeps its
  interaural lead or lag and its spectral shape relative to the front;
- split per direction and ear into an arrival delay (the low-frequency group delay, in samples
  relative to the head centre) and the response aligned to that delay. Rendering moves the delay
  with a fractional delay line and blends aligned responses between neighbouring directions, so
  a moving talker passes between measured directions without clicks or comb filtering.

Directions are in the package's listener frame: x forward, y to the listener's right, z up.
SOFA's frame has y to the left and azimuth counterclockwise (+90 is the left): a SOFA point
(x, y, z) is (x, -y, z) here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binauralgrad.constants import SAMPLE_RATE

SYSTEM_SOFA_DIR = Path("/usr/share/libmysofa")  # Debian's libmysofa1 installs MIT KEMAR here
MIT_KEMAR = "MIT_KEMAR_normal_pinna.sofa"
RESPONSE_TAPS = 256  # aligned responses are cut to 5.3 ms (faded out over their last 32 taps)
LEAD_TAPS = 32  # taps kept before an aligned response's arrival (its pre-ringing)
EQUALISATION_FLOOR = 1e-3  # the frontal division's floor, relative to the frontal mean power
MEASURED_BAND = 0.95  # of the measurement's Nyquist frequency: above it, no energy
DELAY_BAND_HZ = (150.0, 1500.0)  # where the arrival delay is read from the phase slope
NEIGHBOURS = 3  # measured directions blended per rendered direction


@dataclass(frozen=True)
class MeasuredHead:
    """A measured head, ready to render (see the module docstring).

    Attributes:
        name: where it came from (the SOFA file's name).
        directions: (M, 3) unit vectors from the head centre, listener frame.
        delays: (M, 2) left and right ears' arrival in samples at 48 kHz, relative to the head
            centre (negative: earlier, the ear facing the source).
        responses: (M, 2, RESPONSE_TAPS) aligned responses; tap LEAD_TAPS is the arrival.
    """

    name: str
    directions: np.ndarray
    delays: np.ndarray
    responses: np.ndarray

    def blend_weights(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices and weights (N, NEIGHBOURS) of the measured directions to blend.

        Inverse-angle weights less the next neighbour's, so that a measured direction's weight
        reaches zero exactly where it stops being among the nearest: the blend is continuous
        as a direction moves, and a measured direction returns its own response.

        Args:
            directions: (N, 3) directions from the head centre (any length but zero).
        """
        unit = directions / np.maximum(np.linalg.norm(directions, axis=-1, keepdims=True), 1e-12)
        angles = np.arccos(np.clip(unit @ self.directions.T, -1.0, 1.0))  # (N, M)
        closest = np.argpartition(angles, NEIGHBOURS, axis=-1)[:, : NEIGHBOURS + 1]
        order = np.take_along_axis(closest, np.argsort(
            np.take_along_axis(angles, closest, axis=-1), axis=-1), axis=-1)
        nearest = np.take_along_axis(angles, order, axis=-1)
        inverse = 1.0 / np.maximum(nearest, 1e-6)
        weights = np.maximum(inverse[:, :NEIGHBOURS] - inverse[:, NEIGHBOURS:], 0.0)
        weights /= weights.sum(axis=-1, keepdims=True)
        return order[:, :NEIGHBOURS], weights

    def at(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blended (N, 2) delays and (N, 2, RESPONSE_TAPS) aligned responses for directions."""
        index, weights = self.blend_weights(directions)
        delays = np.einsum("nk,nke->ne", weights, self.delays[index])
        responses = np.einsum("nk,nket->net", weights, self.responses[index])
        return delays, responses


def sofa_directions(positions: np.ndarray, kind: str) -> np.ndarray:
    """SOFA source positions (M, 3) as unit vectors in the listener frame (y to the right).

    Args:
        positions: spherical (azimuth deg, elevation deg, radius) or cartesian (x, y, z) rows.
        kind: "spherical" or "cartesian", SOFA's `SourcePosition:Type`.
    """
    if kind == "spherical":
        azimuth, elevation = np.deg2rad(positions[:, 0]), np.deg2rad(positions[:, 1])
        sofa = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) *
                         np.sin(azimuth), np.sin(elevation)], axis=-1)
    elif kind == "cartesian":
        sofa = positions / np.maximum(np.linalg.norm(positions, axis=-1, keepdims=True), 1e-12)
    else:
        raise ValueError(f"SourcePosition Type must be spherical or cartesian, got {kind!r}")
    return sofa * np.array([1.0, -1.0, 1.0])


def read_sofa(path: str | os.PathLike) -> dict[str, np.ndarray | float | str]:
    """Reads a SimpleFreeFieldHRIR SOFA file (AES69; HDF5 inside, read with h5py).

    Returns:
        `ir` (M, 2, N) left then right ear, `rate` in Hz, `directions` (M, 3) listener-frame
        unit vectors, and `name`.

    Raises:
        FileNotFoundError: no such file. ValueError: not a SimpleFreeFieldHRIR set of two ears.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such SOFA file: {path}")
    try:
        sofa = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path} is not a SOFA (HDF5) file ({error})") from error
    with sofa:
        convention = _text(sofa.attrs.get("SOFAConventions", b""))
        if convention != "SimpleFreeFieldHRIR":
            raise ValueError(f"{path}: SOFAConventions is {convention!r}; only "
                             "SimpleFreeFieldHRIR sets can be rendered")
        for name in ("Data.IR", "Data.SamplingRate", "SourcePosition"):
            if name not in sofa:
                raise ValueError(f"{path}: no {name} variable")
        ir = np.asarray(sofa["Data.IR"], dtype=np.float64)
        rate = float(np.asarray(sofa["Data.SamplingRate"]).ravel()[0])
        source = sofa["SourcePosition"]
        kind = _text(source.attrs.get("Type", b"spherical")).lower()
        directions = sofa_directions(np.asarray(source, dtype=np.float64), kind)
        delay = np.asarray(sofa["Data.Delay"]) if "Data.Delay" in sofa else np.zeros((1, 2))
        left_first = _receiver_order(sofa)
    if ir.ndim != 3 or ir.shape[1] != 2 or ir.shape[0] != len(directions):
        raise ValueError(f"{path}: Data.IR must be (M, 2, N) for M source positions, got "
                         f"{ir.shape} for {len(directions)} positions")
    if not np.isfinite(ir).all() or not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"{path}: Data.IR or its sampling rate is not finite")
    ir = _apply_integer_delay(ir, np.broadcast_to(delay.reshape(-1, 2), (len(ir), 2)))
    if not left_first:
        ir = ir[:, ::-1]
    return {"ir": ir, "rate": rate, "directions": directions, "name": path.name}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _receiver_order(sofa) -> bool:
    """Whether receiver 0 is the left ear (SOFA's y points left; files without it: assume so)."""
    if "ReceiverPosition" not in sofa:
        return True
    receivers = np.asarray(sofa["ReceiverPosition"], dtype=np.float64).reshape(2, 3, -1)[..., 0]
    return bool(receivers[0, 1] >= receivers[1, 1])


def _apply_integer_delay(ir: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """SOFA's Data.Delay (whole samples per measurement and ear) put into the responses."""
    if not delay.any():
        return ir
    shifted = np.zeros((*ir.shape[:2], ir.shape[2] + int(delay.max())))
    for index, ear in np.ndindex(*ir.shape[:2]):
        start = int(delay[index, ear])
        shifted[index, ear, start : start + ir.shape[2]] = ir[index, ear]
    return shifted


def load_head(path: str | os.PathLike) -> MeasuredHead:
    """A SOFA file, resampled, free-field equalised and aligned (see the module docstring)."""
    sofa = read_sofa(path)
    ir = _resample(sofa["ir"], sofa["rate"])
    size = 1 << int(np.ceil(np.log2(max(4 * ir.shape[-1], 2048))))
    spectra = np.fft.rfft(ir, n=size, axis=-1)
    front = int(np.argmax(sofa["directions"] @ np.array([1.0, 0.0, 0.0])))
    band_edge = int(MEASURED_BAND * min(sofa["rate"], SAMPLE_RATE) / 2 / SAMPLE_RATE * size)
    equalised = free_field_equalise(spectra, spectra[front], band_edge=band_edge)
    delays = arrival_delays(equalised, size)
    frequencies = np.fft.rfftfreq(size, d=1.0 / SAMPLE_RATE)
    aligned = equalised * np.exp(2j * np.pi * frequencies * (delays[..., None] / SAMPLE_RATE))
    responses = np.roll(np.fft.irfft(aligned, n=size, axis=-1), LEAD_TAPS, axis=-1)
    return MeasuredHead(sofa["name"], sofa["directions"], delays,
                        _fade(responses[..., :RESPONSE_TAPS]))


def _resample(ir: np.ndarray, rate: float) -> np.ndarray:
    from fractions import Fraction

    from scipy.signal import resample_poly

    if rate == SAMPLE_RATE:
        return ir
    ratio = Fraction(SAMPLE_RATE / rate).limit_denominator(1000)
    return resample_poly(ir, ratio.numerator, ratio.denominator, axis=-1)


def free_field_equalise(spectra: np.ndarray, frontal: np.ndarray, *,
                        band_edge: int | None = None) -> np.ndarray:
    """Each ear's spectra divided by its frontal spectrum, limited where that is weak.

    Where the frontal power is under EQUALISATION_FLOOR of its mean, the division is by the
    floor instead (no boost of the measurement's noise); the frontal direction itself comes out
    as exactly 1 everywhere else. Bins from `band_edge` on (above the measurement's band) are
    set to zero for every direction.

    Args:
        spectra: (M, 2, F) complex responses. frontal: (2, F) the frontal direction's.
        band_edge: the first bin beyond the measured band, or None.

    Returns:
        (M, 2, F) spectra H / H_front.
    """
    power = np.abs(frontal) ** 2
    floor = EQUALISATION_FLOOR * power.mean(axis=-1, keepdims=True)
    equalised = spectra * np.conj(frontal) / np.maximum(power, floor)
    if band_edge is not None:
        equalised[..., band_edge:] = 0.0
    return equalised


def arrival_delays(spectra: np.ndarray, size: int) -> np.ndarray:
    """(M, 2) arrival delays in samples: the magnitude-weighted phase slope over DELAY_BAND_HZ.

    Low frequencies bend around the head with a well-defined group delay, where high
    frequencies are shaped by the pinna; the frontal direction of an equalised set reads 0.
    """
    frequencies = np.fft.rfftfreq(size, d=1.0 / SAMPLE_RATE)
    band = (frequencies >= DELAY_BAND_HZ[0]) & (frequencies <= DELAY_BAND_HZ[1])
    last = int(np.flatnonzero(band)[-1]) + 1
    phase = np.unwrap(np.angle(spectra[..., :last]), axis=-1)[..., band[:last]]
    omega = 2 * np.pi * frequencies[band] / SAMPLE_RATE
    weight = np.abs(spectra[..., band])
    # Weighted least squares through the origin: phase = -delay * omega.
    return -np.sum(weight * phase * omega, axis=-1) / np.sum(weight * omega**2, axis=-1)


def _fade(responses: np.ndarray) -> np.ndarray:
    fade = np.ones(responses.shape[-1])
    fade[-32:] = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, 32))
    return (responses * fade).astype(np.float32)


def system_sofa(name: str = MIT_KEMAR) -> Path:
    """A SOFA file installed by the system (Debian's `libmysofa1`: MIT KEMAR)."""
    path = SYSTEM_SOFA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not installed; on Debian or Ubuntu it comes with "
                                "`apt-get install libmysofa1`, or pass your own SOFA file")
    return path
