"""What the wavefront reads: windows of whole inputs, or a stream's inputs as they arrive.

Both are `WavefrontSource`s: the wavefront asks a source how far its inputs are known and
reads them with zeros outside the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch.nn import functional as F

from binauralgrad import dsp
from binauralgrad.constants import FRAME_SAMPLES, POSITION_COLUMNS, SAMPLE_RATE
from binauralgrad.inference.buffers import SampleBuffer, held_bytes
from binauralgrad.inputs import as_real_tensor, check_position_rows
from binauralgrad.models.head_filter import DIRECTION_CHANNELS, ear_directions
from binauralgrad.prior import PriorTerms, envelope_from_frames, frame_rms
from binauralgrad.view import VIEW_CHANNELS, view_features

OPEN_END = 2**62  # a stream's length until flush: beyond any sample
WARP_HISTORY_S = 1.0  # mono kept behind the warp's frontier: talkers up to 343 m away


@runtime_checkable
class WavefrontSource(Protocol):
    """The inputs of a wavefront: B rows (windows), read by window-relative sample.

    Attributes:
        items, starts: per row, the input index and its first absolute sample (the noise's
            coordinates).
        length: samples per window (a stream's: OPEN_END until its end is known).
        ended: whether `length` is final (else no zero padding is applied at the end yet).
        encoder_end: samples whose warp, mono and positions are known.
        prior_end: samples whose prior terms are known (`binauralgrad.prior.PriorTerms`).
    """

    items: Sequence[int]
    starts: Sequence[int]

    @property
    def length(self) -> int: ...

    @property
    def ended(self) -> bool: ...

    @property
    def encoder_end(self) -> int: ...

    @property
    def prior_end(self) -> int: ...

    def read(self, name: str, first: int, last: int) -> torch.Tensor:
        """(B, C, last - first) of "warped", "mono", "envelope", "spreading" or "directions",
        zero outside."""

    def view(self, first: int, last: int, view: str = "rows") -> torch.Tensor:
        """(B, V, last - first) `view_features` of the positions held for 400 samples each,
        zero outside."""


@dataclass
class Windows:
    """What to synthesise: row b is samples starts[b] .. starts[b] + length - 1 of input items[b].

    Each window is sampled as if it were the whole signal (zero padding at its edges), with the
    noise of its absolute samples; a window covering a whole input reproduces the reference.

    Attributes:
        warped: (N, 2, T) geometric warp of the whole inputs, float32.
        mono: (N, 1, T). positions: (N, 7, K) with T == 400 * K.
        items, starts: per row, the input index and the first absolute sample.
        length: samples per window.
        envelope: (N, 1, T) `binauralgrad.prior.envelope` of the whole inputs, for stages
            whose prior is scaled by it (computed once over the whole input, so that every
            tiling and chunking sees the same values).
        spreading: (N, 2, T) `dsp.spreading_gain` of the whole inputs, for attenuated warp
            priors (computed once, as the envelope).
        directions: (N, 6, T) `head_filter.whole_directions`, for learned heads (as the
            envelope).
    """

    warped: torch.Tensor
    mono: torch.Tensor
    positions: torch.Tensor
    items: list[int]
    starts: list[int]
    length: int
    envelope: torch.Tensor | None = None
    spreading: torch.Tensor | None = None
    directions: torch.Tensor | None = None
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # views of `positions`

    @property
    def ended(self) -> bool:
        """The whole windows are known (a stream's inputs end only when flushed)."""
        return True

    @property
    def encoder_end(self) -> int:
        """How far the warp, mono and positions are known: everywhere."""
        return self.length

    @property
    def prior_end(self) -> int:
        """How far the priors' terms are known: everywhere."""
        return self.length

    def read(self, name: str, first: int, last: int) -> torch.Tensor:
        """`gather` of the field `name` ("warped", "mono", "envelope", "spreading",
        "directions")."""
        return self.gather(getattr(self, name), first, last)

    def gather(self, full: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """(B, C, last - first) of window samples first .. last - 1 (zero outside the window)."""
        low, high = max(first, 0), min(last, self.length)
        parts = [full[item, :, start + low: start + high]
                 for item, start in zip(self.items, self.starts, strict=True)]
        return F.pad(torch.stack(parts), (low - first, last - high))

    def view(self, first: int, last: int, view: str = "rows") -> torch.Tensor:
        """(B, V, last - first) `view_features` of the positions, held for 400 samples each."""
        if view not in self.features:
            self.features[view] = view_features(self.positions, view)
        rows = self.features[view]
        low, high = max(first, 0), min(last, self.length)
        parts = []
        for item, start in zip(self.items, self.starts, strict=True):
            frames = torch.arange(start + low, start + high, device=self.positions.device)
            parts.append(rows[item][:, frames // FRAME_SAMPLES])
        return F.pad(torch.stack(parts), (low - first, last - high))


class StreamInputs:
    """A `WavefrontSource` of one stream, known up to a frontier.

    Mono samples and position rows are appended as they come. The geometric warp of a sample is
    final once its audio and its frame's row are there (the warp only delays); the envelope and
    spreading at a sample once the frame after it is (they interpolate between frame centres).
    Everything the wavefront no longer reads is dropped (`trim`), so memory stays bounded.

    Args:
        configs: the stages' DenoiserConfigs (which prior terms are needed).
        device: where the inputs live. max_skew_frames: how many frames the rows may lead or
            lag the audio.
    """

    def __init__(self, configs, *, device: torch.device, max_skew_frames: int = 12):
        if isinstance(max_skew_frames, bool) or not isinstance(max_skew_frames, int) \
                or max_skew_frames < 0:
            raise ValueError(f"max_skew_frames must be an int >= 0, got {max_skew_frames!r}")
        self.items, self.starts = (0,), (0,)  # one stream: input 0 from its first sample
        like = torch.empty(0, device=device)
        self.mono, self.warped = SampleBuffer(1, 1, like), SampleBuffer(1, 2, like)
        # Per frame: position rows, ear distances (the warp's), spreading gain, mono RMS, and
        # the ears' directions (a learned head's).
        self.rows = SampleBuffer(1, POSITION_COLUMNS, like)
        self.distances = SampleBuffer(1, 2, like)
        self.gain, self.rms = SampleBuffer(1, 2, like), SampleBuffer(1, 1, like)
        self.directions = SampleBuffer(1, DIRECTION_CHANNELS, like)
        # Each frame's view features, computed once as its row arrives (each stage and pass
        # reads them again; they are a function of the frame's row alone).
        self.features = {config.view: SampleBuffer(1, VIEW_CHANNELS[config.view], like)
                         for config in configs}
        # The frame terms at every sample, each sample interpolated once: both stages and their
        # heads read the same samples again (the values are elementwise, so the bits are the
        # same in any range).
        self.upsampled = {"envelope": SampleBuffer(1, 1, like),
                          "spreading": SampleBuffer(1, 2, like),
                          "directions": SampleBuffer(1, DIRECTION_CHANNELS, like)}
        self.terms = PriorTerms(configs)
        self.max_skew_frames = max_skew_frames
        self.device, self.total_frames, self.samples = device, None, 0

    @property
    def ended(self) -> bool:
        return self.total_frames is not None

    @property
    def length(self) -> int:
        return OPEN_END if self.total_frames is None else self.total_frames * FRAME_SAMPLES

    @property
    def encoder_end(self) -> int:
        """Samples whose warp, mono and positions are known."""
        return self.warped.end

    @property
    def prior_end(self) -> int:
        """Samples whose prior terms (warp, envelope, spreading) are known."""
        return self.terms.known_end(self.warped.end, self.rms.end, self.gain.end, FRAME_SAMPLES)

    def push(self, mono_block, position_rows) -> None:
        """Appends (n,) mono samples and (k, 7) position rows (either may be empty)."""
        self.add(*self.checked(mono_block, position_rows))

    def checked(self, mono_block, position_rows) -> tuple[torch.Tensor, torch.Tensor]:
        """A push as `add` takes it: (n,) and (k, 7) float32 on the device; or the error it
        makes (bad values, rows too far ahead of or behind the audio)."""
        block = as_real_tensor(mono_block, "mono_block", allow_empty=True)
        block = block.to(self.device, torch.float32).reshape(-1)
        rows = as_real_tensor(position_rows, "position_rows", allow_empty=True)
        rows = rows.to(self.device, torch.float32)
        check_position_rows(rows, "position_rows", batched=False)
        samples, frames = self.samples + len(block), self.rows.end + len(rows)
        lead = frames - -(-samples // FRAME_SAMPLES)
        if abs(lead) > self.max_skew_frames:
            raise ValueError(
                f"position rows do not match the audio: {frames} rows for {samples} samples "
                f"({abs(lead)} frames {'ahead' if lead > 0 else 'behind'}; up to "
                f"{self.max_skew_frames} allowed, max_skew_frames)")
        return block, rows

    def add(self, block: torch.Tensor, rows: torch.Tensor) -> None:
        """Appends a `checked` push."""
        self.samples += len(block)
        self._add(block, rows)

    def end(self) -> int:
        """Marks the end: pads the audio to whole frames as the pipeline does; returns samples."""
        frames = -(-self.samples // FRAME_SAMPLES)
        if self.rows.end != frames:
            raise ValueError(f"{self.samples} samples at 48 kHz need ceil({self.samples} / "
                             f"{FRAME_SAMPLES}) = {frames} position rows, got {self.rows.end}")
        padding = frames * FRAME_SAMPLES - self.mono.end
        self._add(self.mono.data.new_zeros(padding), self.rows.data.new_zeros(0, 7))
        self.total_frames = frames
        return self.samples

    def _add(self, block: torch.Tensor, rows: torch.Tensor) -> None:
        self.mono.append(block.reshape(1, -1, 1))
        if len(rows):
            geometry = dsp.RowGeometry(rows.t().unsqueeze(0))  # of (1, 7, k)
            self.rows.append(rows.unsqueeze(0))
            self.distances.append(geometry.ear_distances.transpose(1, 2))
            self.gain.append(geometry.spreading.transpose(1, 2))
            self.directions.append(ear_directions(geometry).transpose(1, 2))
            for view, features in self.features.items():
                features.append(view_features(geometry, view).transpose(1, 2))
        complete = self.mono.end // FRAME_SAMPLES
        if complete > self.rms.end:
            audio = self.mono.rows(self.rms.end * FRAME_SAMPLES, complete * FRAME_SAMPLES)
            self.rms.append(frame_rms(audio.transpose(1, 2), FRAME_SAMPLES).transpose(1, 2))
        self._warp(min(self.mono.end, self.rows.end * FRAME_SAMPLES))

    def _warp(self, last: int) -> None:
        """The geometric warp (`dsp.geometric_warp`'s arithmetic) of samples up to `last`."""
        first = self.warped.end
        if last <= first:
            return
        low_frame, high_frame = first // FRAME_SAMPLES, -(-last // FRAME_SAMPLES)
        distances = self.distances.rows(low_frame, high_frame).transpose(1, 2)
        field = dsp.warp_field(distances, FRAME_SAMPLES * (high_frame - low_frame))
        offset = first - low_frame * FRAME_SAMPLES
        times = dsp.read_times(field[..., offset: offset + last - first], start=first,
                               num_samples=OPEN_END)
        oldest = int(times.min().floor())
        if oldest < self.mono.start:
            raise ValueError(f"the talker is farther than the stream's {WARP_HISTORY_S} s of "
                             f"warp history reaches ({WARP_HISTORY_S * dsp.SPEED_OF_SOUND:.0f} m)")
        signal = self.mono.rows(oldest, last).transpose(1, 2).expand(-1, 2, -1)
        self.warped.append(dsp.interpolate_at(signal, times, signal_start=oldest).transpose(1, 2))

    def read(self, name: str, first: int, last: int) -> torch.Tensor:
        """(1, C, last - first) of "warped", "mono", "envelope", "spreading" or "directions",
        zero outside."""
        if name in ("warped", "mono"):
            return getattr(self, name).channels(first, last, self.length)
        self._upsample(name, min(last, self.length))
        return self.upsampled[name].channels(first, last, self.length)

    def _upsample(self, name: str, high: int) -> None:
        samples = self.upsampled[name]
        if high <= samples.end:
            return
        frames = {"envelope": self.rms, "spreading": self.gain,
                  "directions": self.directions}[name]
        held = frames.rows(frames.start, frames.end).transpose(1, 2)
        upsample = envelope_from_frames if name == "envelope" else dsp.upsample_frames
        samples.append(upsample(held, samples.end, high, frame_samples=FRAME_SAMPLES,
                                frame_offset=frames.start,
                                total_frames=self.total_frames).transpose(1, 2))

    def view(self, first: int, last: int, view: str = "rows") -> torch.Tensor:
        """(1, V, last - first) `view_features` of the positions held for 400 samples, zero
        outside."""
        low, high = max(first, 0), min(last, self.length)
        values = self.rows.data.new_zeros(1, VIEW_CHANNELS[view], last - first)
        if high > low:
            held = self.features[view]
            frames = torch.arange(low, high, device=self.device) // FRAME_SAMPLES
            features = held.rows(held.start, held.end)[0].t()
            values[0, :, low - first: high - first] = features[:, frames - held.start]
        return values

    def trim(self, oldest: int) -> None:
        """Drops what no read from sample `oldest` on, and no warp to come, needs."""
        oldest -= self.terms.head_past  # a learned head reads the warp this far back
        keep = min(oldest, self.warped.end - round(WARP_HISTORY_S * SAMPLE_RATE),
                   self.rms.end * FRAME_SAMPLES)
        self.mono.trim(keep)
        self.warped.trim(oldest)
        for samples in self.upsampled.values():
            samples.trim(oldest)
        # The frame before `oldest`'s own is an interpolation's lower neighbour.
        frame = min(oldest // FRAME_SAMPLES - 1, self.warped.end // FRAME_SAMPLES)
        for frames in (self.rows, self.distances, self.gain, self.rms, self.directions,
                       *self.features.values()):
            frames.trim(frame)

    def state_bytes(self) -> int:
        return held_bytes(buffer.data for buffer in (self.mono, self.warped, self.rows,
                                                     self.distances, self.gain, self.rms,
                                                     self.directions, *self.features.values(),
                                                     *self.upsampled.values()))
