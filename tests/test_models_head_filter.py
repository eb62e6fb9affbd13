"""The learned head: identity at start, exact in any range, mirror-symmetric, and it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, moving_positions, randomize, speech_like

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig, dsp
from binauralgrad.inference.sources import Windows
from binauralgrad.models.head_filter import (
    BASIS_SIZE,
    EXPONENTS,
    HeadFilter,
    direction_basis,
    ear_directions,
    heard_between,
    whole_directions,
    whole_heard,
)
from binauralgrad.prior import PriorConfig, PriorTerms
from binauralgrad.schedule import NoiseSchedule
from binauralgrad.training.losses import diffusion_loss, head_error

HEAD_PRIOR = {"prior": "attenuated_warp", "prior_std": "envelope", "prior_scale": 0.5,
              "prior_gain": 0.4, "prior_head_taps": 12}


def inputs(length: int = 4000, seed: int = 0):
    mono = torch.from_numpy(speech_like(length, seed))[None, None]
    positions = torch.from_numpy(moving_positions(length // 400).T.copy()).float()[None]
    return mono, positions, dsp.geometric_warp(mono, positions)


def random_head(taps: int = 12, seed: int = 0) -> HeadFilter:
    return randomize(HeadFilter(taps), seed, scale=0.3)


def test_the_basis_is_the_monomials_up_to_degree_three_constant_first():
    assert BASIS_SIZE == 20 and EXPONENTS[0] == (0, 0, 0) and len(set(EXPONENTS)) == 20
    directions = torch.randn(1, 6, 5)
    basis = direction_basis(directions)
    x, y, z = directions[0, 3:]
    index = EXPONENTS.index((1, 2, 0))
    torch.testing.assert_close(basis[0, 1, index], x * y * y)
    torch.testing.assert_close(basis[0, :, 0], torch.ones(2, 5))


def test_an_untrained_head_is_the_dsp_prior():
    mono, positions, warped = inputs()
    for stage, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two)):
        denoiser = BinauralDenoiser(make(**TINY, **HEAD_PRIOR)).eval()
        mean = torch.randn(1, 1, mono.shape[-1]) if stage else None
        learned = denoiser.prior(warped=warped, mono=mono, positions=positions, mean=mean)
        alone = denoiser.prior(warped=warped, mono=mono, positions=positions, mean=mean,
                               learned=False)
        torch.testing.assert_close(learned.mean, alone.mean, rtol=0, atol=1e-7)


def test_exact_sums_equal_the_convolution_and_any_range_gets_the_whole_inputs_bits():
    mono, positions, warped = inputs(6000)
    head = random_head()
    _, spreading, directions = PriorTerms([PriorConfig("attenuated_warp", head_taps=12)]).whole(
        mono, positions, 400)
    exact = whole_heard(head, warped, spreading, directions, exact=True)
    fast = whole_heard(head, warped, spreading, directions)
    torch.testing.assert_close(fast, exact, rtol=1e-5, atol=1e-6)
    windows = Windows(warped, mono, positions, [0], [0], 6000, None, spreading, directions)
    for first, last in [(0, 7), (7, 2345), (2345, 6000), (5990, 6000), (255, 257)]:
        part = heard_between([head], windows.read, first, last, attenuated=True)[:, 0]
        assert torch.equal(part, exact[..., first:last])
    # Several windows at once (the offline wavefront's batches) get each window's own bits.
    shifted = Windows(warped, mono, positions, [0, 0], [0, 1000], 5000, None, spreading,
                      directions)
    both = heard_between([head], shifted.read, 300, 1300, attenuated=True)
    alone = Windows(warped, mono, positions, [0], [1000], 5000, None, spreading, directions)
    assert torch.equal(both[1:], heard_between([head], alone.read, 300, 1300, attenuated=True))
    # Two stages' heads computed together (a stream's shared ears) get each head's own bits.
    other = random_head(seed=1)
    pair = heard_between([head, other], windows.read, 7, 2345, attenuated=True)
    assert torch.equal(pair[:, 0], exact[..., 7:2345])
    assert torch.equal(pair[:, 1], whole_heard(other, warped, spreading, directions,
                                               exact=True)[..., 7:2345])


def test_both_ears_share_one_filter_mirrored():
    # A talker mirrored across the listener's median plane is heard with the ears swapped.
    mono, positions, warped = inputs()
    mirrored = positions.clone()
    mirrored[:, 1] = -mirrored[:, 1]  # y
    mirrored[:, [3, 5]] = -mirrored[:, [3, 5]]  # the reflected attitude: qx, qz flip
    head = random_head()
    heard = []
    for rows in (positions, mirrored):
        warp = dsp.geometric_warp(mono, rows)
        spreading = dsp.spreading_gain(rows, mono.shape[-1])
        directions = whole_directions(rows, mono.shape[-1], 400)
        heard.append(whole_heard(head, warp, spreading, directions))
    torch.testing.assert_close(heard[1], heard[0].flip(1), rtol=1e-4, atol=1e-6)
    directions = ear_directions(positions)
    torch.testing.assert_close(directions[:, :3] * torch.tensor([1, -1, 1])[None, :, None],
                               directions[:, 3:])


def test_the_fit_trains_the_head_and_only_the_head():
    mono, positions, warped = inputs(8000)
    denoiser = randomize(BinauralDenoiser(DenoiserConfig.stage_one(**TINY, **HEAD_PRIOR)), 1)
    with torch.no_grad():
        denoiser.learned_head.weight.zero_()
        denoiser.learned_head.weight[0, denoiser.learned_head.lead] = 1.0
    # The target: the prior's ears one sample later and 30 % quieter (a filter it can be).
    spreading = dsp.spreading_gain(positions, mono.shape[-1])
    ears = 0.7 * torch.nn.functional.pad(0.4 * warped * spreading, (1, 0))[..., :-1]
    batch = {"mono": mono, "warped": warped, "positions": positions,
             "mean": ears.mean(1, keepdim=True)}
    conditions = {"warped": warped, "mono": mono, "positions": positions}
    optimizer = torch.optim.Adam(denoiser.learned_head.parameters(), lr=1e-2)
    fits = []
    for _ in range(200):
        fit = head_error(denoiser.prior(**conditions).mean, batch["mean"])
        optimizer.zero_grad()
        fit.backward()
        optimizer.step()
        fits.append(fit.item())
    assert fits[-1] < 0.05 * fits[0]
    schedule, noise = NoiseSchedule(), torch.randn(1, 1, 8000)
    terms = diffusion_loss(denoiser, batch, torch.tensor([3]), noise, schedule, stage=1)
    assert terms.head_fit.item() == pytest.approx(fits[-1], rel=0.2)
    # The diffusion terms see the prior as fixed: no gradient of theirs reaches the head.
    denoiser.zero_grad()
    terms = diffusion_loss(denoiser, batch, torch.tensor([3]), noise, schedule, stage=1)
    (terms.total - terms.head_fit).backward()
    assert denoiser.learned_head.weight.grad is None or \
        not denoiser.learned_head.weight.grad.any()


def test_head_configs_are_checked_and_saved_with_the_weights(tmp_path):
    with pytest.raises(ValueError, match="head_taps"):
        PriorConfig("attenuated_warp", head_taps=1)
    with pytest.raises(ValueError, match="needs prior warp"):
        PriorConfig("zero", head_taps=12)
    stages = [randomize(BinauralDenoiser(make(**TINY, **HEAD_PRIOR)), seed)
              for seed, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    pipe = BinauralGradPipeline(*stages)
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = BinauralGradPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.stage_one.config.prior.head_taps == 12
    torch.testing.assert_close(loaded.stage_two.learned_head.weight,
                               stages[1].learned_head.weight)
    mono, positions = speech_like(4000), moving_positions(10)
    learned = loaded.prior_alone(mono, positions, learned=True)
    alone = loaded.prior_alone(mono, positions)
    assert learned.shape == alone.shape == (2, 4000)
    assert not torch.allclose(learned, alone)  # the random heads colour the ears


def test_a_learned_head_pipeline_samples_the_same_by_reference_and_fast_path():
    stages = [randomize(BinauralDenoiser(make(**TINY, **HEAD_PRIOR, view="ears")), seed)
              for seed, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    pipe = BinauralGradPipeline(*stages)
    mono, positions = speech_like(5000), moving_positions(13)
    outputs = [pipe(mono, positions, generator=torch.Generator().manual_seed(0), progress=False,
                    implementation=implementation).audio
               for implementation in ("reference", "wavefront")]
    np.testing.assert_allclose(outputs[0].numpy(), outputs[1].numpy(), rtol=0, atol=1e-5)
