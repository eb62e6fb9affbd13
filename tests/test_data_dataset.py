"""Tests for binauralgrad.data's layout, validation, chunking and collation."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from torch.utils.data import DataLoader

from binauralgrad import dsp
from binauralgrad.data import (
    BinauralCollator,
    chunk_starts,
    compute_geowarp,
    find_sequences,
    inspect_sequence,
    load_binaural_dataset,
    load_sequence,
)
from binauralgrad.io.audio import write_wav
from binauralgrad.io.positions import write_positions


def make_sequence(folder, seconds, *, seed=0, binaural=True):
    """A sequence of noise with a talker wandering 1-2 m in front; returns (mono, positions)."""
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * 120))
    mono = (0.1 * rng.standard_normal((1, frames * 400))).astype(np.float32)
    positions = np.zeros((frames, 7))
    positions[:, 0] = 1.5 + 0.4 * np.sin(np.arange(frames) / 40)
    positions[:, 1] = 0.5 * np.cos(np.arange(frames) / 60)
    positions[:, 3:] = [0.0, 0.0, 1.0, 0.0]  # turned round to face the listener
    write_wav(folder / "mono.wav", mono)
    write_positions(folder / "tx_positions.txt", positions)
    if binaural:
        write_wav(folder / "binaural.wav", np.concatenate([mono, -mono]))
    return mono, np.loadtxt(folder / "tx_positions.txt").astype(np.float32)


@pytest.fixture
def trainset(tmp_path):
    root = tmp_path / "trainset"
    for name, seconds in [("subject1", 2.0), ("subject2", 3.5), ("subject10", 1.5), ("x", 5.0)]:
        make_sequence(root / name, seconds, seed=len(name) + int(seconds))
    return root


def test_find_sequences_natural_order_any_name(trainset):
    (trainset / ".cache" / "old").mkdir(parents=True)
    (trainset / ".cache" / "old" / "mono.wav").write_bytes(b"")
    names = [folder.name for folder in find_sequences(trainset)]
    assert names == ["subject1", "subject2", "subject10", "x"]
    assert find_sequences(trainset / "x") == [trainset / "x"]


def test_find_sequences_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such dataset folder"):
        find_sequences(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no sequence folders"):
        find_sequences(tmp_path)


def test_chunks_follow_the_papers_formula(trainset):
    dataset = load_binaural_dataset(trainset)
    expected = {
        "subject1": [0],
        "subject2": [0, 48000],
        "subject10": [],
        "x": [0, 48000, 96000, 144000],
    }
    for name, starts in expected.items():
        num_samples = inspect_sequence(trainset / name).num_samples
        assert len(starts) == max(0, (num_samples - 96000) // 48000 + 1)
        assert list(chunk_starts(num_samples)) == starts
        assert [row["start"] for row in dataset if row["name"] == name] == starts
    assert len(dataset) == 7 and set(dataset[0]) >= {"sequence", "start", "length", "num_samples"}
    assert (
        len(load_binaural_dataset(trainset, chunk_length=48000, hop_length=24000)) == 3 + 6 + 2 + 9
    )


def test_collated_batch_matches_the_files(trainset):
    dataset = load_binaural_dataset(trainset)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=BinauralCollator(seed=1))
    batch = next(iter(loader))
    assert batch["mono"].shape == (4, 1, 32000) and batch["binaural"].shape == (4, 2, 32000)
    assert batch["warped"].shape == (4, 2, 32000) and batch["mean"].shape == (4, 1, 32000)
    assert batch["positions"].shape == (4, 7, 80)
    assert all(batch[key].dtype == torch.float32 for key in ("mono", "binaural", "warped", "mean"))
    torch.testing.assert_close(batch["mean"], batch["binaural"].mean(1, keepdim=True))
    assert all(start % 400 == 0 for start in batch["start"].tolist())
    sequence = load_sequence(trainset / "x")
    rows = [row for row in dataset if row["name"] == "x"]
    crop = BinauralCollator(seed=0)(rows[-1:])
    start = int(crop["start"][0])
    assert rows[-1]["start"] <= start <= rows[-1]["start"] + 64000
    np.testing.assert_array_equal(
        crop["mono"][0].numpy(), sequence["mono"][:, start : start + 32000]
    )
    np.testing.assert_array_equal(
        crop["positions"][0].numpy(), sequence["positions"][start // 400 : start // 400 + 80].T
    )


def test_crops_cover_every_aligned_start_and_repeat_for_a_seed(trainset):
    dataset = load_binaural_dataset(trainset)
    row = dataset[0]
    starts = {int(BinauralCollator(seed=seed)([row])["start"][0]) for seed in range(300)}
    assert starts <= set(range(0, 64001, 400)) and len(starts) > 100
    again = [BinauralCollator(seed=5)([row, row])["start"].tolist() for _ in range(2)]
    assert again[0] == again[1]
    generator = torch.Generator().manual_seed(5)
    assert BinauralCollator(seed=generator)([row, row])["start"].tolist() == again[0]


def test_on_the_fly_warp_equals_the_geowarp_file(trainset):
    folder = trainset / "x"
    row = [row for row in load_binaural_dataset(folder)][2]
    batch = BinauralCollator(seed=3)([row])
    start = int(batch["start"][0])
    whole = compute_geowarp(folder)
    np.testing.assert_array_equal(batch["warped"][0].numpy(), whole[:, start : start + 32000])
    mono, positions = load_sequence(folder)["mono"], load_sequence(folder)["positions"]
    reference = dsp.geometric_warp(
        torch.from_numpy(mono)[None], torch.from_numpy(positions).T[None]
    )
    np.testing.assert_array_equal(whole, reference[0].numpy())
    # With the file present, the collator reads it instead.
    write_wav(folder / "binaural_geowarp.wav", np.full((2, whole.shape[1]), 0.25, np.float32))
    assert torch.all(BinauralCollator(seed=3)([row])["warped"] == 0.25)


def test_workers_and_accelerate_sharding(trainset):
    from accelerate.data_loader import prepare_data_loader

    dataset = load_binaural_dataset(trainset)
    loader = DataLoader(dataset, batch_size=2, collate_fn=BinauralCollator(seed=0))
    shards = [
        prepare_data_loader(loader, num_processes=2, process_index=index, put_on_device=False)
        for index in range(2)
    ]
    # Each process gets its own rows (7 rows in batches of 2, padded to even batches).
    rows = [[i for batch in shard.batch_sampler for i in batch] for shard in shards]
    assert set(rows[0]) | set(rows[1]) == set(range(7)) and not set(rows[0][:3]) & set(rows[1][:3])
    assert [len(batch["start"]) for batch in shards[1]] == [2, 2]
    workers = DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=BinauralCollator(seed=0))
    assert len(list(workers)) == len(dataset)


@pytest.mark.parametrize(
    "breakage, error, message",
    [
        ("no mono", FileNotFoundError, "mono.wav"),
        ("no binaural", FileNotFoundError, "binaural.wav"),
        ("no positions", FileNotFoundError, "tx_positions.txt"),
        ("rate", ValueError, "mono.wav: sample rate 44100 Hz, expected 48000"),
        ("mono channels", ValueError, "mono.wav: 2 channel"),
        ("binaural channels", ValueError, "binaural.wav: 1 channel"),
        ("binaural length", ValueError, "binaural.wav: 72000 samples, but mono.wav has 96000"),
        ("geowarp channels", ValueError, "binaural_geowarp.wav: 1 channel"),
        ("rows", ValueError, "tx_positions.txt: 239 position rows"),
        ("nan", ValueError, r"tx_positions.txt: NaN or inf in positions \(row 7\)"),
        ("columns", ValueError, "tx_positions.txt: rows of 6 values"),
        ("unreadable", ValueError, "binaural.wav: not a readable audio file"),
    ],
)
def test_bad_sequences_name_the_file(tmp_path, breakage, error, message):
    folder = tmp_path / "subject1"
    mono, positions = make_sequence(folder, 2.0)
    if breakage == "no mono":
        (folder / "mono.wav").unlink()
    elif breakage == "no binaural":
        (folder / "binaural.wav").unlink()
    elif breakage == "no positions":
        (folder / "tx_positions.txt").unlink()
    elif breakage == "rate":
        soundfile.write(folder / "mono.wav", mono[0], 44100, subtype="FLOAT")
    elif breakage == "mono channels":
        write_wav(folder / "mono.wav", np.concatenate([mono, mono]), overwrite=True)
    elif breakage == "binaural channels":
        write_wav(folder / "binaural.wav", mono, overwrite=True)
    elif breakage == "binaural length":
        write_wav(folder / "binaural.wav", np.zeros((2, 72000)), overwrite=True)
    elif breakage == "geowarp channels":
        write_wav(folder / "binaural_geowarp.wav", mono)
    elif breakage == "rows":
        np.savetxt(folder / "tx_positions.txt", positions[:-1])
    elif breakage == "nan":
        positions[7, 2] = np.nan
        np.savetxt(folder / "tx_positions.txt", positions)
    elif breakage == "columns":
        np.savetxt(folder / "tx_positions.txt", positions[:, :6])
    elif breakage == "unreadable":
        (folder / "binaural.wav").write_bytes(b"RIFF\x00\x00not really a wav file")
    with pytest.raises(error, match=message) as raised:
        load_binaural_dataset(tmp_path)
    assert str(folder) in str(raised.value)


def test_bad_arguments(trainset):
    with pytest.raises(ValueError, match="multiple of 400"):
        load_binaural_dataset(trainset, chunk_length=96001)
    with pytest.raises(ValueError, match="hop_length must be a positive integer"):
        load_binaural_dataset(trainset, hop_length=0)
    with pytest.raises(ValueError, match="at least chunk_length=960000"):
        load_binaural_dataset(trainset, chunk_length=960000)
    with pytest.raises(ValueError, match="clip_length must be a multiple of 400"):
        BinauralCollator(clip_length=1000)
    row = load_binaural_dataset(trainset, chunk_length=24000, hop_length=24000)[0]
    with pytest.raises(ValueError, match="longer than the dataset's chunks"):
        BinauralCollator(seed=0)([row])
    with pytest.raises(ValueError, match="empty batch"):
        BinauralCollator(seed=0)([])


def test_load_sequence_shapes(trainset):
    sequence = load_sequence(trainset / "subject2")
    assert sequence["mono"].shape == (1, 168000) and sequence["binaural"].shape == (2, 168000)
    assert sequence["positions"].shape == (420, 7) and "warped" not in sequence
    make_sequence(trainset / "test_only", 1.0, binaural=False)
    assert set(load_sequence(trainset / "test_only")) == {"mono", "positions"}


def test_geowarp_in_blocks_equals_one_pass(trainset, monkeypatch):
    from binauralgrad.data import sequence as sequence_module

    folder = trainset / "x"
    whole = compute_geowarp(folder)
    monkeypatch.setattr(sequence_module, "GEOWARP_BLOCK_FRAMES", 7)  # 86 blocks, one partial
    np.testing.assert_array_equal(compute_geowarp(folder), whole)
