"""Rooms: other heads in place on demand, the trained ones back exactly, saved and loaded with
the pipeline, fitted by `binauralgrad fit-head --room`, streamed as offline."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY, moving_positions, randomize, speech_like
from test_inference_stream import offline, random_blocks, streamed
from test_training_head_fit import HEAD_PRIOR, data_set

from binauralgrad import BinauralDenoiser, BinauralGradPipeline, DenoiserConfig
from binauralgrad.cli import main
from binauralgrad.constants import DEFAULT_MODEL_DIR, LIVE_MODEL_DIR
from binauralgrad.rooms import ROOMS_FILE, RoomHeads


def tiny_pipeline(seed: int = 0) -> BinauralGradPipeline:
    stages = [randomize(BinauralDenoiser(make(**TINY, **HEAD_PRIOR)), seed + index)
              for index, make in enumerate((DenoiserConfig.stage_one, DenoiserConfig.stage_two))]
    return BinauralGradPipeline(*stages)


def heads(pipeline) -> list[torch.Tensor]:
    return [stage.learned_head.weight.detach().clone() for stage in pipeline.stages]


def with_a_room(seed: int = 0) -> BinauralGradPipeline:
    pipeline = tiny_pipeline(seed)
    other = [0.5 * head + 0.01 * torch.randn(head.shape, generator=torch.Generator()
                                             .manual_seed(index))
             for index, head in enumerate(heads(pipeline))]
    pipeline.rooms["live"] = RoomHeads("walls reflecting 0.7-0.9", tuple(other),
                                       {"strength": 0.5})
    return pipeline


def inputs(length: int = 4000, seed: int = 0):
    return speech_like(length, seed), moving_positions(-(-length // 400))


def test_a_room_puts_its_heads_in_place_and_none_the_trained_ones_back():
    pipeline = with_a_room()
    trained = heads(pipeline)
    mono, rows = inputs()
    before = offline(pipeline, mono, rows)
    assert pipeline.room is None
    pipeline.room = "live"
    assert all(torch.equal(now, room) for now, room in
               zip(heads(pipeline), pipeline.rooms["live"].heads, strict=True))
    in_the_room = offline(pipeline, mono, rows)
    assert not torch.allclose(in_the_room, before, atol=1e-4)
    pipeline.room = "live"  # again: the trained heads are still kept, not the room's
    pipeline.room = None
    assert all(torch.equal(now, then) for now, then in zip(heads(pipeline), trained, strict=True))
    assert torch.equal(offline(pipeline, mono, rows), before)


def test_unknown_rooms_and_headless_stages_are_refused():
    pipeline = with_a_room()
    with pytest.raises(ValueError, match=r"unknown room 'studio'; this pipeline's rooms: live"):
        pipeline.room = "studio"
    assert pipeline.room is None
    headless = BinauralGradPipeline(*[randomize(BinauralDenoiser(make(**TINY)), 0) for make in
                                      (DenoiserConfig.stage_one, DenoiserConfig.stage_two)])
    with pytest.raises(ValueError, match="rooms: none"):
        headless.room = "live"
    headless.rooms["live"] = with_a_room().rooms["live"]
    with pytest.raises(ValueError, match="need learned heads"):
        headless.room = "live"
    with pytest.raises(ValueError, match="one head per stage"):
        RoomHeads("", (torch.zeros(3),))


def test_rooms_are_saved_and_loaded_with_the_room_in_place(tmp_path):
    pipeline = with_a_room()
    trained = heads(pipeline)
    mono, rows = inputs()
    pipeline.room = "live"
    expected = offline(pipeline, mono, rows)
    pipeline.save_pretrained(tmp_path / "pipe")
    assert pipeline.room == "live"  # saving put the room back in place
    meta = json.loads((tmp_path / "pipe" / "pipeline.json").read_text())
    assert meta["room"] == "live"
    assert meta["rooms"] == {"live": {"description": "walls reflecting 0.7-0.9",
                                      "fit": {"strength": 0.5}}}
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert "## Rooms" in card and "`live`: walls reflecting 0.7-0.9" in card
    # The stage folders keep the trained heads: loaded alone, a stage is the one trained.
    alone = BinauralDenoiser.from_pretrained(tmp_path / "pipe" / "stage_one")
    assert torch.equal(alone.learned_head.weight, trained[0])
    loaded = BinauralGradPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.room == "live"
    assert torch.equal(offline(loaded, mono, rows), expected)
    loaded.room = None
    assert all(torch.equal(now, then) for now, then in zip(heads(loaded), trained, strict=True))
    # Without rooms there is no rooms file; a file that lacks a listed room is refused.
    tiny_pipeline().save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / ROOMS_FILE).exists()
    meta["rooms"]["dry"] = {"description": ""}
    (tmp_path / "pipe" / "pipeline.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks dry.stage_one, dry.stage_two"):
        BinauralGradPipeline.from_pretrained(tmp_path / "pipe")


@pytest.mark.parametrize("seed,largest", [(0, 900), (1, 3000)])
def test_a_room_streams_its_offline_output(seed, largest):
    pipeline = with_a_room(seed)
    pipeline.room = "live"
    length = 4321
    mono, rows = speech_like(length, seed), moving_positions(-(-length // 400))
    out, _ = streamed(pipeline, mono, rows, random_blocks(seed, largest, length), seed=seed)
    assert torch.equal(out, offline(pipeline, mono, rows, seed=seed))


def test_fit_head_adds_a_room_and_keeps_the_trained_heads(tmp_path, capsys):
    mono, rows, _ = data_set(tmp_path / "data", 24000, 4)
    pipeline = tiny_pipeline()
    pipeline.info["evaluation"] = {"setting": "held-out scenes", "table": "| a |\n"}
    trained = heads(pipeline)
    pipeline.save_pretrained(tmp_path / "pipe")
    assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "roomed"), "--keep", "1",
                 "--room", "reverberant", "--room-description", "walls reflecting 0.7-0.9",
                 "--room-temperature", "0.1", "--strength", "0.5", "--quiet"]) == 0
    fitted = BinauralGradPipeline.from_pretrained(tmp_path / "roomed")
    assert fitted.room is None
    assert all(torch.equal(now, then) for now, then in zip(heads(fitted), trained, strict=True))
    assert fitted.info["evaluation"]["setting"] == "held-out scenes"  # the trained heads' table
    room = fitted.rooms["reverberant"]
    assert room.description == "walls reflecting 0.7-0.9" and room.temperature == 0.1
    assert room.fit["strength"] == 0.5 and room.fit["explained"]["stage_2"] > 0.5
    # The room's heads are the ones fit-head writes in place without --room.
    assert main(["fit-head", "--model", str(tmp_path / "pipe"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "refit"), "--keep", "1",
                 "--strength", "0.5", "--quiet"]) == 0
    refit = BinauralGradPipeline.from_pretrained(tmp_path / "refit")
    assert all(torch.equal(now, then) for now, then in
               zip(heads(refit), room.heads, strict=True))
    assert "evaluation" not in refit.info
    card = (tmp_path / "roomed" / "README.md").read_text()
    assert "used at strength 0.5 (`--strength`" in card
    fitted.room = "reverberant"
    heard = fitted.prior_alone(mono, rows, learned=True)
    assert torch.equal(heard, refit.prior_alone(mono, rows, learned=True))
    assert main(["fit-head", "--model", str(tmp_path / "pipe" / "stage_one"), "--data-dir",
                 str(tmp_path / "data"), "--output", str(tmp_path / "one"), "--room", "x"]) == 2
    assert "--room needs a pipeline folder" in capsys.readouterr().err


def test_the_benchmark_and_synthesize_render_the_room_asked_for(tmp_path, capsys):
    from test_evaluation_folder import make_testset

    from binauralgrad.io import read_positions, read_wav, write_wav

    testset = make_testset(tmp_path / "testset", lengths_s=(0.6,))
    pipeline = with_a_room()
    pipeline.save_pretrained(tmp_path / "pipe")
    command = ["benchmark", "--model", str(tmp_path / "pipe"), "--testset", str(testset),
               "--no-plots", "--quiet"]
    assert main([*command, "--output-dir", str(tmp_path / "out"), "--room", "live"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["settings"]["room"] == "live"
    folder = testset / "subject1"
    mono, rows = read_wav(folder / "mono.wav")[0], read_positions(folder / "tx_positions.txt")
    pipeline.room = "live"
    expected = offline(pipeline, mono, rows)
    heard = torch.from_numpy(read_wav(tmp_path / "out" / "binauralgrad" / "subject1.wav"))
    torch.testing.assert_close(heard, expected, atol=1e-6, rtol=0)
    assert main([*command, "--output-dir", str(tmp_path / "none"), "--room", "studio"]) == 2
    assert "unknown room 'studio'; this pipeline's rooms: live" in capsys.readouterr().err
    write_wav(tmp_path / "mono.wav", mono[None])
    synthesize = ["synthesize", "--model", str(tmp_path / "pipe"), "--mono",
                  str(tmp_path / "mono.wav"), "--positions", str(folder / "tx_positions.txt"),
                  "--quiet"]
    assert main([*synthesize, "--output", str(tmp_path / "live.wav"), "--room", "live"]) == 0
    torch.testing.assert_close(torch.from_numpy(read_wav(tmp_path / "live.wav")), expected,
                               atol=1e-6, rtol=0)
    assert main([*synthesize, "--output", str(tmp_path / "bad.wav"), "--room", "studio"]) == 2
    assert "unknown room 'studio'" in capsys.readouterr().err


@pytest.mark.parametrize("folder", [DEFAULT_MODEL_DIR, LIVE_MODEL_DIR], ids=["default", "live"])
def test_the_embedded_models_stream_their_reverberant_room_as_offline(folder):
    pipeline = BinauralGradPipeline.from_pretrained(folder)
    assert pipeline.room is None and set(pipeline.rooms) == {"reverberant"}
    assert pipeline.rooms["reverberant"].fit["strength"] == 0.3
    length = 9000
    mono, rows = speech_like(length, 3), moving_positions(-(-length // 400))
    treated = offline(pipeline, mono, rows, seed=3)
    pipeline.room = "reverberant"
    out, _ = streamed(pipeline, mono, rows, random_blocks(4, 2500, length), seed=3)
    reverberant = offline(pipeline, mono, rows, seed=3)
    torch.testing.assert_close(out, reverberant, atol=1e-5, rtol=0)
    assert float((reverberant - treated).abs().max()) > 1e-3


def test_a_room_may_sample_at_its_own_temperature(tmp_path):
    import dataclasses

    pipeline = with_a_room()
    pipeline.schedule = dataclasses.replace(pipeline.schedule, temperature=0.0)
    pipeline.rooms["live"].temperature = 0.5
    mono, rows = inputs(4321, 2)
    pipeline.room = "live"
    assert pipeline.sampling_schedule.temperature == 0.5 and pipeline.schedule.temperature == 0.0
    warm = offline(pipeline, mono, rows, seed=2)
    out, _ = streamed(pipeline, mono, rows, random_blocks(2, 900, len(mono)), seed=2)
    assert torch.equal(out, warm)
    # The same heads at the pipeline's own temperature sample another output.
    pipeline.rooms["live"].temperature = None
    assert not torch.allclose(offline(pipeline, mono, rows, seed=2), warm, atol=1e-4)
    pipeline.rooms["live"].temperature = 0.5
    pipeline.save_pretrained(tmp_path / "pipe")
    meta = json.loads((tmp_path / "pipe" / "pipeline.json").read_text())
    assert meta["schedule"]["temperature"] == 0.0 and meta["rooms"]["live"]["temperature"] == 0.5
    assert "Sampled at temperature 0.5 in it." in (tmp_path / "pipe" / "README.md").read_text()
    loaded = BinauralGradPipeline.from_pretrained(tmp_path / "pipe")
    assert torch.equal(offline(loaded, mono, rows, seed=2), warm)
    loaded.room = None
    assert loaded.sampling_schedule.temperature == 0.0
    with pytest.raises(ValueError, match="temperature must lie in"):
        RoomHeads("", pipeline.rooms["live"].heads, temperature=1.5)
