"""The learned head in closed form: the least-squares filter of a stage's prior on a data set.

A stage's prior mean is linear in its head's weights (`models.head_filter`): each output sample
is a sum over basis functions k and taps j of weight[k, j] x basis_k(direction at t) x ear(t +
lead - j). Fitting the head by gradient descent in the training loop gets its mean square error
within a few percent of the best, but not the quiet parts of the spectrum where that error hardly
looks: phase and the high bands converge slowly. The normal equations of the same square error,
summed over a data set, give the best weights directly, in one pass over the audio.

What each stage's head fits (g the prior's gain, h the heard ears):
- stage one, the ears' mean: g x (h_left + h_right) / 2 against (left + right) / 2;
- stage two, what its prior adds to the mean it is given: g x (h_left - h_right) / 2 against
  (left - right) / 2 (its prior is g x (h - mean(h)) + the mean).

The solution is pulled towards the untrained head (a unit impulse, the DSP prior) by a ridge
term: directions and bands that the data hardly excite stay as the DSP prior has them.

With a level compression below 1 the references are first given the level differences a room
leaves (`level_cues`), so that the head fits those rather than the direct sound's own. With a
strength below 1 the fitted head is mixed with the untrained one: in a reverberant room the
least-squares head's sharp cues are further from the reference's, frame by frame, than a
blend's (docs/recipes.md, "Rooms as a condition").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from binauralgrad import dsp
from binauralgrad.constants import FRAME_SAMPLES
from binauralgrad.models.head_filter import (
    BASIS_SIZE,
    HeadFilter,
    direction_basis,
    head_lead,
    head_past,
    whole_directions,
)
from binauralgrad.training.level_cues import band_factors, compress_interaural_levels

# The ridge's weight relative to the mean diagonal of the normal matrix. 1e-2 costs well under
# 1 % of the explained energy on the default's training data and keeps the rarely excited
# (direction, tap) pairs near the DSP prior.
DEFAULT_RIDGE = 1e-2
DEFAULT_KEEP = 0.1  # share of samples summed: 30 minutes of audio give ~8.6 M equations
_CHUNK = 50_000  # samples per outer product block (50k x 960 x 4 bytes = 192 MB per ear)


@dataclass
class EarFeatures:
    """What a head's weights multiply at a sequence's kept samples, per ear, and the ears there.

    Attributes:
        per_ear: (2, N, BASIS_SIZE * taps): basis_k(direction at t) x ear(t + lead - j), in the
            weights' (k, j) order; left ear first.
        binaural: (2, N) the reference ears at the same samples.
    """

    per_ear: torch.Tensor
    binaural: torch.Tensor

    @classmethod
    def of(cls, mono, positions, binaural, *, taps: int, attenuated: bool = True, warped=None,
           keep: float = DEFAULT_KEEP, generator: torch.Generator | None = None) -> EarFeatures:
        """The features of mono (T,), positions (K, 7), binaural (2, T) (see `add`)."""
        mono = torch.as_tensor(mono, dtype=torch.float32).reshape(1, 1, -1)
        rows = torch.as_tensor(positions, dtype=torch.float32).T[None].contiguous()
        binaural = torch.as_tensor(binaural, dtype=torch.float32)
        length = mono.shape[-1]
        if binaural.shape != (2, length):
            raise ValueError(f"binaural must be (2, {length}) like the mono, got "
                             f"{tuple(binaural.shape)}")
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"keep must be in (0, 1], got {keep!r}")
        picked = torch.nonzero(torch.rand(length, generator=generator) < keep).squeeze(1)
        ears = (dsp.geometric_warp(mono, rows) if warped is None
                else torch.as_tensor(warped, dtype=torch.float32).reshape(1, 2, length))
        if attenuated:
            ears = ears * dsp.spreading_gain(rows, length)
        directions = whole_directions(rows, length, FRAME_SAMPLES)[:, :, picked]
        basis = direction_basis(directions)[0].transpose(1, 2)  # (2, N, BASIS_SIZE)
        padded = F.pad(ears, (head_past(taps), head_lead(taps)))[0]
        # windows[e, t, j]: ear e's input that tap j multiplies at output t (t + lead - j).
        windows = padded.unfold(-1, taps, 1).flip(-1)[:, picked]
        per_ear = (basis[..., :, None] * windows[..., None, :]).reshape(2, len(picked), -1)
        return cls(per_ear, binaural[:, picked])


@dataclass
class HeadNormalEquations:
    """Running sums of one stage's least-squares problem over its head's weights.

    Args:
        taps: the head's length. stage: 1 (the mean) or 2 (the ears given the mean).
        gain: the prior's gain. attenuated: the prior is the attenuated warp (each ear times its
            1 / r), not the warp.
    """

    taps: int
    stage: int
    gain: float
    attenuated: bool = True
    matrix: torch.Tensor = field(init=False, repr=False)
    vector: torch.Tensor = field(init=False, repr=False)
    energy: float = field(init=False, default=0.0)
    equations: int = field(init=False, default=0)

    def __post_init__(self):
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage!r}")
        size = BASIS_SIZE * self.taps
        self.matrix = torch.zeros(size, size, dtype=torch.float64)
        self.vector = torch.zeros(size, dtype=torch.float64)

    def add(self, mono: np.ndarray | torch.Tensor, positions: np.ndarray | torch.Tensor,
            binaural: np.ndarray | torch.Tensor, *, warped=None, keep: float = DEFAULT_KEEP,
            generator: torch.Generator | None = None) -> None:
        """Adds the equations of one sequence: mono (T,), positions (K, 7), binaural (2, T).

        `warped` (2, T): the sequence's own geometric warp (binaural_geowarp.wav), which training
        reads in place of computing it; None computes it. `keep` of the samples, drawn at random
        (with `generator`), enter the sums.
        """
        features = EarFeatures.of(mono, positions, binaural, taps=self.taps,
                                  attenuated=self.attenuated, warped=warped, keep=keep,
                                  generator=generator)
        self.add_features(features)

    def add_features(self, features: EarFeatures) -> None:
        """Adds the equations of a sequence's `EarFeatures` (of this head's taps and warp)."""
        if features.per_ear.shape[-1] != BASIS_SIZE * self.taps:
            raise ValueError(f"features of {features.per_ear.shape[-1] // BASIS_SIZE} taps for a "
                             f"head of {self.taps}")
        sign = 1.0 if self.stage == 1 else -1.0  # the ears' mean, or half their difference
        # Summed in float64: with float32 products of 50k-sample chunks, the residual energy
        # (a small difference of large sums) was off by 1e-5 of the target's, and on a badly
        # conditioned scene the solution explained more than all of it. A fit takes 1.7x as
        # long (measured on an AMD EPYC, one core).
        for ears, heard in zip(features.per_ear.split(_CHUNK, dim=1),
                               features.binaural.split(_CHUNK, dim=1), strict=True):
            rows = (0.5 * self.gain * (ears[0] + sign * ears[1])).double()
            values = (0.5 * (heard[0] + sign * heard[1])).double()
            self.matrix += rows.T @ rows
            self.vector += rows.T @ values
            self.energy += float(values.square().sum())
            self.equations += len(values)

    def solve(self, ridge: float = DEFAULT_RIDGE) -> torch.Tensor:
        """The best weights (BASIS_SIZE, taps), pulled towards the unit impulse by `ridge`."""
        if self.equations == 0:
            raise ValueError("no equations: add sequences before solving")
        impulse = HeadFilter(self.taps).weight.detach().double().reshape(-1)
        weight = ridge * float(self.matrix.diagonal().mean())
        eye = torch.eye(len(impulse), dtype=torch.float64)
        solution = torch.linalg.solve(self.matrix + weight * eye, self.vector + weight * impulse)
        return solution.reshape(BASIS_SIZE, self.taps).float()

    def explained(self, weight: torch.Tensor) -> float:
        """The share of the targets' energy that the head with `weight` explains (1 - residual
        energy / target energy) on the equations summed so far."""
        flat = weight.detach().double().reshape(-1)
        residual = self.energy - 2 * flat @ self.vector + flat @ self.matrix @ flat
        return 1.0 - float(residual) / self.energy


@dataclass
class HeadFitReport:
    """A stage's fit: the share of its target's energy explained before and after."""

    stage: int
    before: float
    after: float
    equations: int


def stage_equations(denoiser) -> HeadNormalEquations:
    """Empty normal equations for a denoiser's learned head (ValueError if it has none)."""
    prior = denoiser.config.prior
    if denoiser.learned_head is None:
        raise ValueError("this stage has no learned head (its prior's head_taps is 0)")
    return HeadNormalEquations(prior.head_taps, 1 if denoiser.config.out_channels == 1 else 2,
                               prior.gain, attenuated=prior.needs_spreading)


def fit_heads(stages, sequences, *, keep: float = DEFAULT_KEEP, ridge: float = DEFAULT_RIDGE,
              level_compression=1.0, strength: float = 1.0, seed: int = 0,
              progress: bool = True) -> list[HeadFitReport]:
    """Refits the learned heads of denoisers, in place, on `sequences`.

    Args:
        stages: BinauralDenoisers with learned heads (a pipeline's two, or one exported stage).
        sequences: folders in the Binaural Speech layout with binaural.wav.
        keep: share of each sequence's samples in the sums. ridge: see `solve`.
        level_compression: the factor on the references' interaural level differences, or
            one per octave band (`level_cues.compress_interaural_levels`); 1 fits the
            references as they are.
        strength: the heads become strength x the fit + (1 - strength) x the untrained head
            (the DSP prior's unit impulse), in [0, 1].
        seed: the draw of the kept samples. progress: a bar over the sequences.

    Returns:
        One report per stage.
    """
    from tqdm.auto import tqdm

    from binauralgrad.data.sequence import load_sequence

    band_factors(level_compression)  # refused before minutes of reading, not after
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength!r}")
    systems = [stage_equations(stage) for stage in stages]
    generator = torch.Generator().manual_seed(seed)
    for folder in tqdm(list(sequences), desc="head equations", unit="sequence",
                       disable=not progress):
        scene = load_sequence(folder)
        if "binaural" not in scene:
            raise FileNotFoundError(f"{folder}: no binaural.wav to fit the head to")
        binaural = compress_interaural_levels(scene["binaural"], level_compression)
        with torch.no_grad():
            features = {}  # both stages' heads usually read the same features: build them once
            for system in systems:
                key = (system.taps, system.attenuated)
                if key not in features:
                    features[key] = EarFeatures.of(
                        scene["mono"], scene["positions"], binaural, taps=system.taps,
                        attenuated=system.attenuated, warped=scene.get("warped"), keep=keep,
                        generator=generator)
                system.add_features(features[key])
    reports = []
    for stage, system in zip(stages, systems, strict=True):
        before = system.explained(stage.learned_head.weight)
        weight = system.solve(ridge)
        if strength != 1.0:
            untrained = HeadFilter(system.taps).weight.detach()
            weight = strength * weight + (1.0 - strength) * untrained
        with torch.no_grad():
            stage.learned_head.weight.copy_(weight.to(stage.learned_head.weight))
        reports.append(HeadFitReport(system.stage, before, system.explained(weight),
                                     system.equations))
    return reports
