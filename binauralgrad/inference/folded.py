"""The denoiser prepared for inference: folded weights, time-major rows and fused convolutions."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.nn import functional as F

from binauralgrad.inference.backends import MatmulConv, kernels, resolve_dtype
from binauralgrad.inference.buffers import FRESH, Workspace
from binauralgrad.models.denoiser import LEAKY_SLOPE, BinauralDenoiser


class StepBiases(NamedTuple):
    """A residual layer's biases for one diffusion step (`FoldedDenoiser.step_biases`).

    Attributes:
        bias: the dilated convolution's bias with the step embedding's contribution (and the
            earlier layers' residual biases', `_fold_output_biases`) folded in.
        left, right: the contributions of the taps that fall before the start / after the end
            of the sequence, to subtract there (the reference pads the sum with zeros).
        condition: the conditioner projection's weights with `bias` as one more input channel,
            for condition rows that end in a 1 (`with_one`): the bias then rides in the
            product (with MKL the same bits as a biased product, measured; at a stream's short
            pushes a biased product costs more than the product alone).
    """

    bias: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    condition: torch.Tensor


def with_one(condition: torch.Tensor) -> torch.Tensor:
    """(B, n, C) condition rows with a last channel of ones (`StepBiases.condition`'s input)."""
    return F.pad(condition, (0, 1), value=1.0)


def _gate(work: Workspace, count: int) -> torch.Tensor:
    """sigmoid(gate) * tanh(filter) of the first `count` rows of work.y = [gate, -2 filter],
    through work.u, into work.z; returns work.z's first `count` rows.

    With u = sigmoid(y): sigmoid(gate) * tanh(filter) = u_g * (1 - 2 sigmoid(-2 filter))
    = u_g - 2 u_g u_f. One sigmoid over both halves is several times cheaper than tanh on CPUs.
    `u` has a padded row stride: that keeps the kernel from fusing rows into one run, whose
    vectorised body and scalar tail round differently, so each row is computed the same way in
    any tile; and the gate runs over `work.gate_rows(count)` rows, so that no thread gets part
    of a row, with any thread count.
    """
    rows = work.gate_rows(count)
    u, width = work.u[:, :rows], work.z.shape[-1]
    _gate_halves(work.y[:, :rows], u, u[..., :width], u[..., width:], work.z[:, :rows])
    return work.z[:, :count]


def _gate_halves(y: torch.Tensor, u: torch.Tensor, gate: torch.Tensor, filter_: torch.Tensor,
                 z: torch.Tensor) -> torch.Tensor:
    """`_gate` with u's halves given (`gate`, `filter_`: views of `u`, made once by a caller)."""
    torch.sigmoid(y, out=u)
    return torch.addcmul(gate, gate, filter_, value=-2.0, out=z)


class FoldedDenoiser:
    """A `BinauralDenoiser`'s weights rearranged for sampling; same function, less work.

    Four foldings, exact in real arithmetic: the step embedding's add before each dilated
    convolution becomes a per-step bias (corrected at the sequence edges, where the reference
    zero-pads); the residual's 1/sqrt(2) per layer becomes a per-layer scale of the weights
    (hidden states are kept as g_L = 2^((L - N/2) / 2) h_L); the output projections' biases
    leave the layers (see `_fold_output_biases`); and tanh becomes a sigmoid (see `_gate`).
    Activations are (B, L, C) rows of time with channels last; each layer carries its hidden
    state and running skip sum side by side as (B, L, 2R).

    Args:
        denoiser: the model (left unchanged).
        dtype: compute dtype of the residual stack (the condition encoder runs in float32).
        device: where to run (default: the denoiser's).
        backend: "auto" (oneDNN on CPU where present, else matmul), "mkldnn" or "matmul".
    """

    def __init__(self, denoiser: BinauralDenoiser, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None, backend: str = "auto"):
        self.config = denoiser.config
        self.device = torch.device(device) if device is not None else \
            next(denoiser.parameters()).device
        self.dtype = resolve_dtype(dtype, self.device)
        self.ops = kernels(backend, self.device, self.dtype)
        self.dilations = [layer.dilated_conv.dilation[0] for layer in denoiser.residual_layers]
        self.learned_head = denoiser.learned_head  # the prior's own (float32, as trained)
        self._denoiser = denoiser
        with torch.no_grad():
            self._fold(denoiser)

    @property
    def channels(self) -> int:
        return self.config.residual_channels

    def _cast(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=self.device, dtype=self.dtype)

    def _fold(self, denoiser: BinauralDenoiser) -> None:
        layers, width = len(self.dilations), self.channels
        # Rows of the gated half are the filter: scaled by -2 for `_gate`.
        self._sign = torch.cat([torch.ones(width), torch.full((width,), -2.0)]).double()
        scales = [2.0 ** ((index - layers / 2) / 2) for index in range(layers + 1)]
        inputs = denoiser.input_projection
        self.input_weight = self._cast(inputs.weight[:, :, 0].double().t() * scales[0])  # (C, R)
        self.input_bias = self._cast(inputs.bias.double() * scales[0])
        self.dilated_weights, self.condition_weights, self.output_weights = [], [], []
        self._taps, self._static_biases, self._condition_kernels, output_biases = [], [], [], []
        for index, layer in enumerate(denoiser.residual_layers):
            sign = self._sign[:, None, None]
            taps = layer.dilated_conv.weight.double() * sign  # (2R, R, 3)
            self._taps.append(taps)
            self.dilated_weights.append(self._conv_weight(taps / scales[index]))
            condition = layer.conditioner_projection.weight.double() * sign
            self._condition_kernels.append(condition)
            self.condition_weights.append(self._conv_weight(condition))
            self._static_biases.append(self._sign * (layer.dilated_conv.bias.double()
                                                     + layer.conditioner_projection.bias.double()))
            residual_scale = torch.cat([torch.full((width,), scales[index]), torch.ones(width)])
            output = layer.output_projection
            self.output_weights.append(
                self._conv_weight(output.weight.double() * residual_scale.double()[:, None, None]))
            output_biases.append(output.bias.double() * residual_scale.double())
        skip = denoiser.skip_projection
        skip_weight = skip.weight.double() / math.sqrt(layers)
        self.skip_weight = self._conv_weight(skip_weight)
        self._fold_output_biases(output_biases, scales, skip_weight, skip.bias.double())
        self.head_weight = self._conv_weight(denoiser.output_projection.weight.double())
        self.head_bias = self._cast(denoiser.output_projection.bias.double())
        encoder = denoiser.condition_encoder
        # The encoder runs in float32 on the same kind of kernels as the stack.
        self._encoder_ops = self.ops
        convs = {"dsp1": encoder.dsp_conv1, "dsp2": encoder.dsp_conv2,
                 "view1": encoder.view_conv1, "view2": encoder.view_conv2,
                 "merge": encoder.merge_conv}
        self._encoder = {
            name: (self._encoder_ops.weight(conv.weight.detach().float().to(self.device)),
                   conv.bias.detach().float().to(self.device))
            for name, conv in convs.items()}

    def _fold_output_biases(self, biases: list[torch.Tensor], scales: list[float],
                            skip_weight: torch.Tensor, skip_bias: torch.Tensor) -> None:
        """Moves the output projections' biases out of the layers: one add per layer fewer.

        Without them, layer L's hidden state lacks the sum of the earlier layers' residual
        biases, a constant per channel inside the window, as the step embedding is: it joins the
        step's input to the dilated convolution (`step_biases`, edges included). The skip sum
        lacks every layer's skip bias, which the skip projection's bias takes in.
        """
        width = self.channels
        missing, self._missing_inputs = biases[0].new_zeros(width), []
        for index, bias in enumerate(biases):
            self._missing_inputs.append(missing / scales[index])  # in h_L's units
            missing = missing + bias[:width]
        skips = torch.stack(biases)[:, width:].sum(0)
        self.skip_bias = self._cast(skip_bias + skip_weight[:, :, 0] @ skips)

    def _conv_weight(self, kernel: torch.Tensor) -> torch.Tensor:
        return self.ops.weight(self._cast(kernel))

    @torch.no_grad()
    def step_biases(self, timestep: torch.Tensor) -> list[StepBiases]:
        """Per layer, its `StepBiases` for one diffusion step."""
        embedding = self._denoiser.diffusion_embedding(timestep.to(self.device))
        result = []
        for index, layer in enumerate(self._denoiser.residual_layers):
            step = layer.diffusion_projection(embedding)[0].double()  # (R,)
            step = step + self._missing_inputs[index]
            per_tap = torch.einsum("oik,i->ko", self._taps[index], step)  # (3, 2R)
            bias = self._static_biases[index] + per_tap.sum(0)
            biased = torch.cat([self._condition_kernels[index], bias[:, None, None]], dim=1)
            result.append(StepBiases(self._cast(bias), self._cast(per_tap[0]),
                                     self._cast(per_tap[2]), self._conv_weight(biased)))
        return result

    def encode(self, audio: torch.Tensor, view: torch.Tensor, start: int,
               length: int) -> torch.Tensor:
        """The condition for window samples start .. start + n - 1, zero-padded as the reference.

        Args:
            audio: (B, A, n + 6) `[warped, mono, (mean)]` for samples start - 3 .. start + n + 2,
                zero outside the window.
            view: (B, 7, n + 6) audio-rate positions, likewise.
            start: window-relative index of the first output sample; length: the window's.

        Returns:
            (B, n, condition_channels) rows in the compute dtype.
        """
        def layer(name, values, first):
            weight, bias = self._encoder[name]
            out = F.leaky_relu(self._encoder_ops.conv(values, weight, bias), LEAKY_SLOPE)
            return out if first is None else _zero_outside(out, first, length)

        # Time-major, like the residual stack: a sample's value then does not depend on where a
        # tile starts (oneDNN's time-minor convolutions vary with the tile's width).
        audio, view = audio.float().transpose(1, 2), view.float().transpose(1, 2)
        dsp = layer("dsp2", layer("dsp1", audio, start - 2), start - 1)
        view = layer("view2", layer("view1", view, start - 2), start - 1)
        condition = layer("merge", torch.cat([dsp, view], dim=-1), None)
        return condition.to(self.dtype)

    def project_condition(self, condition: torch.Tensor, index: int,
                          bias: torch.Tensor | None = None) -> torch.Tensor:
        """Layer `index`'s conditioner projection of (B, n, C) condition rows -> (B, n, 2R),
        plus `bias` (a step's `step_biases()[index].bias` makes it `layer`'s preactivation)."""
        return self.ops.conv(condition, self.condition_weights[index], bias)

    def project_condition_into(self, out: torch.Tensor, condition: torch.Tensor,
                               index: int) -> None:
        """`project_condition` without a bias, written into `out` (no new buffer: fresh large
        ones page-fault); the conditioner cache's rows, to which each pass adds its bias."""
        self.ops.conv_into(out, condition, self.condition_weights[index])

    def preactivation_into(self, out: torch.Tensor, condition: torch.Tensor,
                           biases: StepBiases) -> None:
        """`project_condition_into` with a step's bias, of (B, n, C + 1) condition rows whose
        last channel is 1 (`with_one`): one product per layer and pass, nothing added after."""
        self.ops.conv_into(out, condition, biases.condition)

    def input_rows(self, sample: torch.Tensor) -> torch.Tensor:
        """(B, n, C_out) noisy sample -> (B, n, 2R): first hidden state and a zero skip sum."""
        # Elementwise (one or two input channels): exact IEEE steps, so any tile gets the same
        # rounding (oneDNN takes another path for a one-sample, one-channel convolution).
        sample = sample.to(self.dtype)
        hidden = self.input_bias + sample[..., :1] * self.input_weight[0]
        for channel in range(1, sample.shape[-1]):
            hidden = hidden + sample[..., channel: channel + 1] * self.input_weight[channel]
        hidden = F.relu(hidden)
        return torch.cat([hidden, torch.zeros_like(hidden)], dim=-1)

    def workspace(self, batch: int, capacity: int, allocator=FRESH) -> Workspace:
        """Buffers for tiles of up to `capacity` output samples (from `allocator`)."""
        return Workspace(self.config, batch, capacity, device=self.device, dtype=self.dtype,
                         allocator=allocator)

    def layer(self, index: int, rows: torch.Tensor, preactivation: torch.Tensor,
              bias: StepBiases, first: int, length: int,
              work: Workspace) -> torch.Tensor:
        """One residual layer on (B, n + 2d, 2R) input rows -> (B, n, 2R) output rows.

        The output is written over rows d .. d + n - 1 of `rows` (and returned as that view).

        Args:
            rows: hidden state and skip sum for window samples first - d .. first + n + d - 1
                (zero beyond the window).
            preactivation: (B, n, 2R) this layer's projected condition for the output samples
                plus the step's input bias `bias.bias` (one operation fewer than adding it here);
                the dilated convolution is added to it in place (`work.y[:, :n]`, which the
                gate reads).
            bias: this step's `step_biases()[index]` (`StepBiases`).
            first: window index of the first output sample; length: the window's.
            work: buffers of at least n samples.
        """
        dilation = self.dilations[index]
        count = rows.shape[1] - 2 * dilation
        y = preactivation
        self.ops.conv_(y, rows[..., : self.channels], self.dilated_weights[index], None,
                       dilation)
        _remove_edge_taps(y, bias, first, count, dilation, length)
        z = _gate(work, count)
        out = rows[:, dilation: dilation + count]
        self.ops.conv_(out, z, self.output_weights[index], None)  # its bias: _fold_output_biases
        return out

    def steady_layer(self, index: int, rows: torch.Tensor, work: Workspace) -> SteadyLayer:
        """`layer` on fixed views of `rows` and `work`, again and again (see `SteadyLayer`)."""
        return SteadyLayer(self, index, rows, work)

    def head(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, n, 2R) last layer's rows -> (B, n, C_out) predicted noise in float32."""
        skips = rows[..., self.channels:]
        hidden = F.relu(self.ops.conv(skips, self.skip_weight, self.skip_bias))
        return self.ops.conv(hidden, self.head_weight, self.head_bias).float()


class SteadyLayer:
    """`FoldedDenoiser.layer` on fixed views of a workspace, for a stream's pushes of one length.

    A stream advances each layer by its push's length, push after push, through the same
    workspace rows. `layer` makes about twenty views and slices per call, which at a 10 ms push
    cost as much as its arithmetic; here they are made once. The operations and their order are
    `layer`'s, so are the bits, away from the window's edges (where `layer` also subtracts the
    taps that fall outside it).

    Args:
        model: the prepared denoiser. index: the residual layer.
        rows: (B, n + 2d, 2R) the layer's input rows in the workspace; `out` is rows d .. d + n - 1.
        work: the workspace whose `y` holds the preactivation when `run` is called.
    """

    def __init__(self, model: FoldedDenoiser, index: int, rows: torch.Tensor, work: Workspace):
        dilation, width = model.dilations[index], model.channels
        count = rows.shape[1] - 2 * dilation
        self.rows, self.y, self.out = rows, work.y[:, :count], rows[:, dilation: dilation + count]
        gated = work.gate_rows(count)  # `_gate`'s rows, for the thread count of this moment
        u, self._gated_y = work.u[:, :gated], work.y[:, :gated]
        self._u, self._gate_half, self._filter_half = u, u[..., :width], u[..., width:]
        self._gated_z, self._z = work.z[:, :gated], work.z[:, :count]
        taps = (self.y, rows[..., :width], model.dilated_weights[index], dilation)
        output = (self.out, self._z, model.output_weights[index], 1)
        if model.ops is MatmulConv:  # its conv_ loops' views, made once
            self._taps, self._output = MatmulConv.products(*taps), MatmulConv.products(*output)
            self._conv_ = None
        else:
            self._taps, self._output, self._conv_ = taps, output, model.ops.conv_
        self._ops, self._y_items = model.ops, list(self.y.unbind(0))

    def project(self, condition: torch.Tensor, biases: StepBiases) -> None:
        """`FoldedDenoiser.preactivation_into(y, condition, biases)`: (B, n, C + 1) rows."""
        if self._conv_ is None:  # MatmulConv.conv_into's products, without its general cases
            for target, rows in zip(self._y_items, condition.unbind(0), strict=True):
                torch.mm(rows, biases.condition, out=target)
        else:
            self._ops.conv_into(self.y, condition, biases.condition)

    def run(self) -> torch.Tensor:
        """The layer: adds the dilated convolution to `y`, gates, projects into `out`."""
        if self._conv_ is None:
            for target, rows, weight in self._taps:
                target.addmm_(rows, weight)
            _gate_halves(self._gated_y, self._u, self._gate_half, self._filter_half,
                         self._gated_z)
            for target, rows, weight in self._output:
                target.addmm_(rows, weight)
        else:
            target, rows, weight, dilation = self._taps
            self._conv_(target, rows, weight, None, dilation)
            _gate_halves(self._gated_y, self._u, self._gate_half, self._filter_half,
                         self._gated_z)
            target, rows, weight, dilation = self._output
            self._conv_(target, rows, weight, None, dilation)
        return self.out


def _zero_outside(values: torch.Tensor, first: int, length: int) -> torch.Tensor:
    """Zeroes the rows of (B, n, C) values whose window index first + i lies outside [0, length)."""
    count = values.shape[1]
    low, high = max(0, -first), min(count, length - first)
    if low == 0 and high >= count:
        return values
    values = values.clone()
    values[:, :low] = 0
    values[:, max(high, low):] = 0
    return values


def _remove_edge_taps(y: torch.Tensor, bias, first: int, count: int, dilation: int,
                      length: int) -> None:
    # Output sample t saw the folded step embedding through all three taps; the reference's taps
    # at t - d < 0 or t + d >= length read zero padding instead.
    left_end = min(count, dilation - first)
    if left_end > 0:
        y[:, :left_end] -= bias.left
    right_start = max(0, length - dilation - first)
    if right_start < count:
        y[:, right_start:] -= bias.right


def __getattr__(name: str):
    if name == "FastDenoiser":  # the name before 0.2: "fast" also named the 6-step schedule
        import warnings

        warnings.warn("FastDenoiser is deprecated: use binauralgrad.inference.folded."
                      "FoldedDenoiser", DeprecationWarning, stacklevel=2)
        return FoldedDenoiser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
