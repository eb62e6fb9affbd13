"""A learned head: each ear's attenuated warp through a filter that follows the talker's direction.

The attenuated warp gets each ear's straight-line delay and 1 / r right, but nothing of what a
head does to a sound on its way into an ear: the far ear's shadow, the near ear's boost, the
pinna's notches, and an interaural delay longer than the ears' straight-line distances give. For
a free-field-equalised head these are a filter of a millisecond or two per ear that changes with
the direction the sound comes from, the same for every talker and every room: the part of the
binaural residual that the mono signal and the positions predict. A small denoiser trained on
noisy targets does not find it (the room's reverberation dominates its residual); this module
states it as structure, and its regression loss fits it directly.

The filter's taps are linear in a fixed basis of the direction: the monomials of degree at most
three of the unit vector from the head centre to the mouth, in the listener's frame, mirrored
(y -> -y) for the left ear so that both ears share one set of weights (heads are close to
symmetric, and each weight then sees both ears' data). Tap k multiplies the warp `LEAD` - k
samples ahead, so the filter can advance a near ear a little as well as delay and colour it. The
weights start at a unit impulse at the lead on the constant basis: untrained, the learned head
is the attenuated warp.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from binauralgrad import dsp
from binauralgrad.view import head_direction

BASIS_DEGREE = 3
# Exponents (a, b, c) of x^a y^b z^c, the constant first.
EXPONENTS = tuple(sorted((e for e in itertools.product(range(BASIS_DEGREE + 1), repeat=3)
                          if sum(e) <= BASIS_DEGREE), key=lambda e: (sum(e), e[::-1])))
BASIS_SIZE = len(EXPONENTS)
_EXPONENT_INDEX = [torch.tensor([e[axis] for e in EXPONENTS]) for axis in range(3)]
DIRECTION_CHANNELS = 6  # (x, y, z) for the left ear (mirrored), then the right
EXACT_CHUNK = 256  # samples per product of the exact sums (`HeadFilter._exact_per_basis`)


def head_lead(taps: int) -> int:
    """Taps ahead of the warp's own sample (a third of them: 16 of 48 is 0.33 ms at 48 kHz)."""
    return taps // 3


def head_past(taps: int) -> int:
    """Samples behind an output sample that a filter of `taps` reads."""
    return taps - 1 - head_lead(taps)


def ear_directions(positions) -> torch.Tensor:
    """Each ear's view of the mouth direction per position row: (B, 7, K) -> (B, 6, K) (rows
    or their `dsp.RowGeometry`).

    Channels 0-2 the left ear's (the direction with y negated), 3-5 the right ear's (as is).
    """
    direction, _ = head_direction(positions)
    mirror = direction.new_tensor([1.0, -1.0, 1.0])[None, :, None]
    return torch.cat([direction * mirror, direction], dim=1).float()


def direction_basis(directions: torch.Tensor) -> torch.Tensor:
    """The basis at each sample: (B, 6, T) ear directions -> (B, 2, BASIS_SIZE, T).

    Elementwise in the directions (products in a fixed order), so that a sample's value does not
    depend on the range it is computed in.
    """
    batch, _, length = directions.shape
    ears = directions.reshape(batch, 2, 3, 1, length)
    powers = [torch.ones_like(ears)]  # x^0 .. x^3 of all three axes at once
    for _ in range(BASIS_DEGREE):
        powers.append(powers[-1] * ears)
    powers = torch.cat(powers, dim=3)  # (B, 2, axis, power, T)
    x, y, z = (powers[:, :, axis, _EXPONENT_INDEX[axis]] for axis in range(3))
    return x * y * z


class HeadFilter(nn.Module):
    """The direction-dependent filter per ear (see the module docstring).

    Args:
        taps: filter length in samples; `head_lead(taps)` of them look ahead.
    """

    def __init__(self, taps: int):
        super().__init__()
        self.taps, self.lead = taps, head_lead(taps)
        weight = torch.zeros(BASIS_SIZE, taps)
        weight[0, self.lead] = 1.0
        self.weight = nn.Parameter(weight)

    @property
    def past(self) -> int:
        """Samples behind an output sample that the filter reads."""
        return head_past(self.taps)

    def forward(self, ears: torch.Tensor, directions: torch.Tensor, *,
                exact: bool = False, first: int = 0) -> torch.Tensor:
        """The learned ears.

        Args:
            ears: (B, 2, past + T + lead) the (attenuated) warp, with `past` samples before the
                output's first and `lead` after its last.
            directions: (B, 6, T) `ear_directions` at the output's samples (interpolated
                between rows).
            exact: give any range of samples the bits of the whole input's (the stream and the
                wavefront; see `_exact_per_basis`); otherwise one convolution (training; equal
                to about 1e-6).
            first: the output's first sample in its window, to which the exact products align.

        Returns:
            (B, 2, T) float32.
        """
        batch, length = ears.shape[0], directions.shape[-1]
        if ears.shape[-1] != length + self.taps - 1:
            raise ValueError(f"the head filter needs {self.past} samples before and {self.lead} "
                             f"after the output's {length}, got {ears.shape[-1]} in all")
        if exact:
            return exact_ears([self], ears, directions, first)[:, 0]
        ears, weight = ears.float(), self.weight.float()
        kernels = weight.flip(-1)[:, None, :]  # conv1d correlates; taps count backwards
        per_basis = F.conv1d(ears.reshape(batch * 2, 1, -1), kernels)
        per_basis = per_basis.reshape(batch, 2, BASIS_SIZE, length)
        return (per_basis * direction_basis(directions)).sum(dim=2)


def exact_ears(heads, ears: torch.Tensor, directions: torch.Tensor, first: int) -> torch.Tensor:
    """`HeadFilter.forward(..., exact=True)` of several heads of one length at once: (B, H, 2, T).

    One unfolding of the ears, one direction basis and one weighted sum for all of them (a
    stream's pushes pay per operation, and both stages' heads read the same ears); each head's
    bits are its own alone.
    """
    batch, length = ears.shape[0], directions.shape[-1]
    weight = torch.cat([head.weight.float() for head in heads])  # (H x BASIS_SIZE, taps)
    per_basis = _exact_per_basis(ears.float(), weight, first)
    per_basis = per_basis.reshape(batch, 2, len(heads), BASIS_SIZE, length)
    terms, weights = per_basis.unbind(3), direction_basis(directions)[:, :, None].unbind(3)
    heard = terms[0] * weights[0]
    multiply = _multiply_into(torch.empty_like(heard), weight)
    for index in range(1, BASIS_SIZE):  # elementwise in a fixed order: any range's bits
        heard.add_(multiply(terms[index], weights[index]))
    return heard.transpose(1, 2)


def _exact_per_basis(ears: torch.Tensor, weight: torch.Tensor, first: int) -> torch.Tensor:
    """Each filter row's filter of the ears, (B, 2, rows, T), as products of one shape at fixed
    places (rows: heads x BASIS_SIZE).

    A matrix product's rounding depends on its shape (BLAS picks kernels and blockings by
    it), so a stream's short ranges and a whole input's would differ in the last bit. Here
    every product is (BASIS_SIZE, taps) x (taps, 2 x EXACT_CHUNK): both ears over the chunk of
    samples k * EXACT_CHUNK onwards, zero-padded where the range does not reach. A sample is
    always computed at the same place of the same product, so any range gets the same bits, at
    a few products a stream push instead of a loop over every tap.
    """
    taps = weight.shape[-1]
    batch, length = ears.shape[0], ears.shape[-1] - taps + 1
    low = first // EXACT_CHUNK * EXACT_CHUNK
    high = -(-(first + length) // EXACT_CHUNK) * EXACT_CHUNK
    padded = F.pad(ears, (first - low, high - first - length))
    # Column j of a chunk's taps reads the warp taps - 1 - j samples ahead of its output
    # (tap taps - 1 - j): the weights are flipped instead of the data.
    flipped = weight.flip(-1).contiguous()
    # Every chunk's shifted ears in one copy: (B, chunks, taps, 2 ears x EXACT_CHUNK), both
    # ears side by side in one product (a column's place in it is fixed all the same).
    count = (high - low) // EXACT_CHUNK
    windows = padded.unfold(-1, EXACT_CHUNK + taps - 1, EXACT_CHUNK)
    shifted = windows.unfold(-1, EXACT_CHUNK, 1).permute(0, 2, 3, 1, 4).contiguous()
    shifted = shifted.reshape(batch, count, taps, 2 * EXACT_CHUNK)
    rows = weight.shape[0]
    # One product per head and chunk: stacking heads into one would change the product's
    # shape, and with it the rounding (it does with AVX2 kernels), by how many heads share.
    per_basis = torch.stack([torch.stack([torch.cat([torch.mm(head, shifted[item, chunk])
                                                     for head in flipped.split(BASIS_SIZE)])
                                          for chunk in range(count)], dim=1)
                             for item in range(batch)])  # (B, rows, chunks, 2 x C)
    per_basis = per_basis.reshape(batch, rows, count, 2, EXACT_CHUNK)
    per_basis = per_basis.permute(0, 3, 1, 2, 4).reshape(batch, 2, rows, high - low)
    return per_basis[..., first - low: first - low + length]


def _multiply_into(product: torch.Tensor, weight: torch.Tensor):
    """a * b written into one reused buffer, unless autograd tracks the weights (out= cannot)."""
    if torch.is_grad_enabled() and weight.requires_grad:
        return torch.mul
    return lambda a, b: torch.mul(a, b, out=product)


def whole_directions(positions: torch.Tensor, num_samples: int,
                     frame_samples: int) -> torch.Tensor:
    """`ear_directions` of whole inputs at every sample: (B, 7, K) -> (B, 6, T)."""
    rows = ear_directions(positions)
    return dsp.upsample_frames(rows, 0, num_samples, frame_samples=frame_samples,
                               total_frames=rows.shape[-1])


def whole_heard(head: HeadFilter, warped: torch.Tensor, spreading: torch.Tensor | None,
                directions: torch.Tensor, *, exact: bool = False) -> torch.Tensor:
    """The learned ears of whole inputs (zero beyond their ends): (B, 2, T) -> (B, 2, T).

    Args:
        warped: the geometric warp. spreading: each ear's 1 / r (attenuated warp), or None.
        directions: `whole_directions`. exact: see `HeadFilter.forward`.
    """
    ears = warped if spreading is None else warped * spreading
    return head(F.pad(ears, (head.past, head.lead)), directions, exact=exact)


def heard_between(heads, read, first: int, last: int, *, attenuated: bool) -> torch.Tensor:
    """Learned heads' ears at samples first .. last - 1 of a `WavefrontSource` (`read`), exact:
    (B, H, 2, T) for H heads of one length (`exact_ears`)."""
    low, high = first - heads[0].past, last + heads[0].lead
    ears = read("warped", low, high)
    if attenuated:
        ears = ears * read("spreading", low, high)
    return exact_ears(heads, ears, read("directions", first, last), first)
