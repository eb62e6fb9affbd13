"""BinauralGradPipeline: parity of sampling, determinism, lengths, folders, the Hub, bad input."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from conftest import make_tiny_pipeline, speech_like, static_positions

from binauralgrad import BinauralGradPipeline, BinauralOutput, NoiseSchedule


def synthesize(pipeline, length: int, seed: int = 0, **kwargs) -> BinauralOutput:
    frames = -(-length // 400)
    return pipeline(speech_like(length), static_positions(frames),
                    generator=torch.Generator().manual_seed(seed), progress=False, **kwargs)


def test_same_seed_same_audio_other_seed_other_audio(tiny_pipeline):
    first, again, other = (synthesize(tiny_pipeline, 2000, seed) for seed in (1, 1, 2))
    assert torch.equal(first.audio, again.audio)
    assert not torch.allclose(first.audio, other.audio)


def test_buffers_kept_between_calls_change_nothing_and_can_be_let_go(tiny_pipeline):
    assert tiny_pipeline.held_buffer_bytes == 0
    first = synthesize(tiny_pipeline, 2000, 1)
    held = tiny_pipeline.held_buffer_bytes
    assert held > 0
    assert torch.equal(synthesize(tiny_pipeline, 2000, 1).audio, first.audio)
    assert tiny_pipeline.held_buffer_bytes == held  # the same buffers again, no more
    other = copy.copy(tiny_pipeline)  # the same stages, its own buffers
    assert other.stages == tiny_pipeline.stages and other.held_buffer_bytes == 0
    tiny_pipeline.release_buffers()
    assert tiny_pipeline.held_buffer_bytes == 0
    assert torch.equal(synthesize(tiny_pipeline, 2000, 1).audio, first.audio)
    assert torch.equal(synthesize(other, 2000, 1).audio, first.audio)


@pytest.mark.parametrize("length", [400, 401, 1234, 2400])
def test_any_length_keeps_its_length(tiny_pipeline, length):
    out = synthesize(tiny_pipeline, length)
    assert out.audio.shape == (2, length) and out.mean.shape == (1, length)
    assert out.warped.shape == (2, length) and out.sample_rate == 48000
    assert torch.isfinite(out.audio).all() and out.audio.abs().max() <= 1.0


def test_batched_input_gives_batched_output(tiny_pipeline):
    mono = np.stack([speech_like(800, seed) for seed in range(3)])
    positions = np.stack([static_positions(2, (1.0, y, 0.0)) for y in (-1.0, 0.0, 1.0)])
    out = tiny_pipeline(mono, positions, generator=torch.Generator().manual_seed(0),
                        progress=False)
    assert out.audio.shape == (3, 2, 800) and out.mean.shape == (3, 1, 800)
    (audio,) = tiny_pipeline(torch.from_numpy(mono[0]), torch.from_numpy(positions[0]),
                             progress=False, return_dict=False,
                             generator=torch.Generator().manual_seed(0))
    # Item 0 of the batch is the same input with the same noise as the unbatched call.
    assert (audio - out.audio[0]).abs().max() < 1e-6
    assert (out.audio[1] - out.audio[0]).abs().max() > 1e-3  # other input, other noise
    # The warp delays the ear further from the talker: at y = -1 the right ear lags the left.
    lags = [int(np.argmax(np.correlate(out.warped[item, 1].numpy(), out.warped[item, 0].numpy(),
                                       "full"))) - 799 for item in (0, 2)]
    assert lags[0] > 0 > lags[1]


def test_full_schedule_samples_what_the_reference_does(tiny_pipeline):
    full = synthesize(tiny_pipeline, 400, steps="full")
    reference = synthesize(tiny_pipeline, 400, steps="full", implementation="reference")
    assert (full.audio - reference.audio).abs().max() < 1e-5
    assert (full.audio - synthesize(tiny_pipeline, 400).audio).abs().max() > 1e-3


def test_save_and_load_folder_gives_identical_audio(tmp_path, tiny_pipeline):
    folder = tiny_pipeline.save_pretrained(tmp_path / "pipe")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "pipeline.json", "stage_one", "stage_two"]
    stage_two_files = {path.name for path in (folder / "stage_two").iterdir()}
    assert {"config.json", "model.safetensors"} <= stage_two_files
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    loaded = BinauralGradPipeline.from_pretrained(folder)
    assert torch.equal(synthesize(tiny_pipeline, 1200).audio, synthesize(loaded, 1200).audio)
    with pytest.raises(FileExistsError, match="overwrite"):
        tiny_pipeline.save_pretrained(folder)
    tiny_pipeline.save_pretrained(folder, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_custom_schedule_round_trips(tmp_path):
    pipeline = make_tiny_pipeline()
    pipeline.schedule = NoiseSchedule(fast_betas=[1e-4, 1e-2, 0.3])
    loaded = BinauralGradPipeline.from_pretrained(pipeline.save_pretrained(tmp_path / "p"))
    assert loaded.schedule == pipeline.schedule


@pytest.mark.parametrize("count", [4, 3, 2, 1])
def test_fewer_steps_sample_what_the_reference_does(tiny_pipeline, count):
    fewer = synthesize(tiny_pipeline, 800, steps=count)
    reference = synthesize(tiny_pipeline, 800, steps=count, implementation="reference")
    assert (fewer.audio - reference.audio).abs().max() < 1e-5
    assert (fewer.audio - synthesize(tiny_pipeline, 800).audio).abs().max() > 1e-3


def test_the_step_count_is_saved_with_the_pipeline_and_old_files_keep_six(tmp_path):
    pipeline = make_tiny_pipeline()
    pipeline.fast_steps = 3
    folder = pipeline.save_pretrained(tmp_path / "p")
    meta = json.loads((folder / "pipeline.json").read_text())
    assert meta["schedule"]["fast_steps"] == 3
    loaded = BinauralGradPipeline.from_pretrained(folder)
    assert loaded.fast_steps == 3 and loaded.schedule == pipeline.schedule
    three = synthesize(loaded, 800)  # steps="fast": the saved count, on every path
    assert torch.equal(three.audio, synthesize(pipeline, 800, steps=3).audio)
    reference = synthesize(loaded, 800, implementation="reference")
    assert (reference.audio - three.audio).abs().max() < 1e-5
    assert loaded.receptive_field_seconds() == loaded.receptive_field_seconds(3) \
        < loaded.receptive_field_seconds(6)
    del meta["schedule"]["fast_steps"]  # a pipeline.json from before the option
    (folder / "pipeline.json").write_text(json.dumps(meta))
    assert BinauralGradPipeline.from_pretrained(folder).fast_steps == 6
    with pytest.raises(ValueError, match="fast_steps must be an int from 1 to 6"):
        pipeline.fast_steps = 7


def populate_hub_cache(cache: object, repo_id: str, folder) -> None:
    """Lays `folder` out as a cached snapshot of a Hub model repo, as a download would."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_from_pretrained_offline_from_the_hub_cache(tmp_path, monkeypatch, tiny_pipeline):
    from huggingface_hub import constants

    populate_hub_cache(tmp_path / "cache", "someone/binauralgrad-tiny",
                       tiny_pipeline.save_pretrained(tmp_path / "pipe"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    loaded = BinauralGradPipeline.from_pretrained("someone/binauralgrad-tiny")
    assert torch.equal(synthesize(tiny_pipeline, 800).audio, synthesize(loaded, 800).audio)
    with pytest.raises(FileNotFoundError, match="someone/not-cached"):
        BinauralGradPipeline.from_pretrained("someone/not-cached")


def test_push_to_hub_uploads_a_loadable_folder(tmp_path, monkeypatch, tiny_pipeline):
    import shutil

    from huggingface_hub import HfApi

    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = repo_id

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls["upload"] = repo_id
        shutil.copytree(folder_path, tmp_path / "uploaded")
        return "commit-url"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert tiny_pipeline.push_to_hub("someone/binauralgrad-tiny") == "commit-url"
    assert calls == {"create": "someone/binauralgrad-tiny", "upload": "someone/binauralgrad-tiny"}
    loaded = BinauralGradPipeline.from_pretrained(tmp_path / "uploaded")
    assert torch.equal(synthesize(tiny_pipeline, 800).audio, synthesize(loaded, 800).audio)


def test_to_moves_dtype(tiny_pipeline):
    tiny_pipeline.to(dtype=torch.float64)
    assert tiny_pipeline.dtype == torch.float64
    out = synthesize(tiny_pipeline, 800)
    assert out.audio.dtype == torch.float32 and out.audio.shape == (2, 800)


@pytest.mark.parametrize("mono,positions,match", [
    (np.zeros((2, 1, 1, 800)), static_positions(2), "mono must be"),
    (np.zeros(800), np.zeros((2, 6)), r"positions must be \(K, 7\)"),
    (np.zeros(800), static_positions(3), r"ceil\(800 / 400\) = 2 rows"),
    (np.zeros(801), static_positions(2), "= 3 rows"),
    (np.array([0.0, np.nan] * 400), static_positions(2), "mono contains NaN"),
    (np.zeros(800), np.full((2, 7), np.inf), "positions contains NaN or inf"),
    (np.zeros(0), np.zeros((0, 7)), "mono is empty"),
    (np.zeros((3, 800)), np.zeros((2, 2, 7)), "mono holds 3 signal"),
    ([0.0] * 800, static_positions(2), "must be a torch.Tensor or numpy array"),
    (np.zeros(800, dtype=complex), static_positions(2), "real numbers"),
])
def test_bad_input_raises_clear_errors(tiny_pipeline, mono, positions, match):
    with pytest.raises(ValueError, match=match):
        tiny_pipeline(mono, positions, progress=False)


def test_mismatched_stages_are_refused(tiny_pipeline):
    with pytest.raises(ValueError, match="stage_one must"):
        BinauralGradPipeline(tiny_pipeline.stage_two, tiny_pipeline.stage_one)


def test_loading_a_missing_or_broken_folder(tmp_path, tiny_pipeline):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        BinauralGradPipeline.from_pretrained(tmp_path / "absent")
    folder = tiny_pipeline.save_pretrained(tmp_path / "pipe")
    (folder / "pipeline.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a binauralgrad pipeline file"):
        BinauralGradPipeline.from_pretrained(folder)


def test_a_stereo_signal_with_one_track_is_refused_not_batched(tiny_pipeline):
    positions = static_positions(2)
    with pytest.raises(ValueError, match=r"\(2, 800\): 2 signals.*read_wav\(path\)\[0\]"):
        tiny_pipeline(np.stack([speech_like(800)] * 2), positions, progress=False)
    # A batch of one with one track is one signal.
    out = tiny_pipeline(speech_like(800)[None], positions, progress=False)
    assert out.audio.shape == (2, 800)


def test_options_of_the_wavefront_are_refused_by_the_reference(tiny_pipeline):
    with pytest.raises(ValueError, match="chunk_seconds, max_memory_mb only apply"):
        synthesize(tiny_pipeline, 800, implementation="reference", chunk_seconds=1.0,
                   max_memory_mb=100)
    with pytest.raises(ValueError, match="steps must be one of"):
        synthesize(tiny_pipeline, 800, steps="six")
    with pytest.raises(ValueError, match="implementation must be one of"):
        synthesize(tiny_pipeline, 800, implementation="gpu")


def test_old_option_names_still_work_with_a_deprecation_warning(tiny_pipeline):
    new = synthesize(tiny_pipeline, 800, steps="full", implementation="wavefront")
    with pytest.warns(DeprecationWarning, match="steps="):
        old = synthesize(tiny_pipeline, 800, fast=False)
    assert torch.equal(new.audio, old.audio)
    with pytest.warns(DeprecationWarning, match="'wavefront'"):
        again = synthesize(tiny_pipeline, 800, steps="full", implementation="fast")
    assert torch.equal(new.audio, again.audio)
