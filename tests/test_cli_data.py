"""Tests for `binauralgrad geowarp` and `binauralgrad make-synthetic`, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from torch.utils.data import DataLoader

from binauralgrad import dsp
from binauralgrad.cli import main
from binauralgrad.data import (
    BinauralCollator,
    chunk_starts,
    find_sequences,
    load_binaural_dataset,
    load_sequence,
)
from binauralgrad.io.audio import read_wav

SMALL = ["--train-minutes", "0.1", "--test-minutes", "0.1", "--sequences", "2", "--quiet"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "data"
    assert main(["make-synthetic", str(root), "--seed", "1", *SMALL]) == 0
    return root


def test_make_synthetic_writes_the_layout(synthetic, capsys):
    assert (synthetic / "testset" / "validation_sequence" / "mono.wav").is_file()
    for split in ("trainset", "testset"):
        for subject in ("subject1", "subject2"):
            folder = synthetic / split / subject
            names = {path.name for path in folder.iterdir()}
            assert names == {"mono.wav", "binaural.wav", "tx_positions.txt", "rx_positions.txt"}
    capsys.readouterr()
    before = (synthetic / "trainset" / "subject1" / "binaural.wav").stat().st_mtime_ns
    # The same command again keeps the set it made (the README's commands rerun as written).
    assert main(["make-synthetic", str(synthetic), "--seed", "1", *SMALL[:-1]]) == 0
    assert "kept the 5 sequences" in capsys.readouterr().err
    assert (synthetic / "trainset" / "subject1" / "binaural.wav").stat().st_mtime_ns == before
    # Other settings over it are refused: they would mix two data sets.
    assert main(["make-synthetic", str(synthetic), *SMALL]) == 2
    assert "exists from other settings; pass overwrite (--overwrite)" in capsys.readouterr().err
    assert main(["make-synthetic", str(synthetic), "--sequences", "0", "--quiet"]) == 2
    assert "sequences must be a positive integer" in capsys.readouterr().err


def test_end_to_end_synthetic_geowarp_dataset_batch(synthetic, tmp_path, capsys):
    assert main(["geowarp", str(synthetic)]) == 0
    assert "wrote 5 binaural_geowarp.wav" in capsys.readouterr().err
    for folder in find_sequences(synthetic):
        info = soundfile.info(str(folder / "binaural_geowarp.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "FLOAT")
    dataset = load_binaural_dataset(synthetic / "trainset")
    expected = sum(
        len(chunk_starts(load_sequence(folder)["mono"].shape[1]))
        for folder in find_sequences(synthetic / "trainset")
    )
    assert len(dataset) == expected == 4  # two 3 s sequences: 2 s chunks at 0 s and 1 s
    loader = DataLoader(dataset, batch_size=2, collate_fn=BinauralCollator(seed=0))
    batch = next(iter(loader))
    shapes = {key: tuple(value.shape) for key, value in batch.items()}
    assert shapes == {
        "mono": (2, 1, 32000),
        "binaural": (2, 2, 32000),
        "warped": (2, 2, 32000),
        "mean": (2, 1, 32000),
        "positions": (2, 7, 80),
        "start": (2,),
    }
    for row, start in zip(dataset.select(range(2)), batch["start"].tolist(), strict=True):
        assert start % 400 == 0 and row["start"] <= start <= row["start"] + 96000 - 32000
    # The file's warp is the one the pipeline computes from the crop's sequence.
    sequence = load_sequence(synthetic / "trainset" / "subject1")
    warped = dsp.geometric_warp(
        torch.from_numpy(sequence["mono"])[None], torch.from_numpy(sequence["positions"]).T[None]
    )
    np.testing.assert_array_equal(sequence["warped"], warped[0].numpy())


def test_geowarp_keeps_existing_files_unless_overwrite(tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["make-synthetic", str(root), "--seed", "2", *SMALL]) == 0
    target = root / "testset" / "validation_sequence" / "binaural_geowarp.wav"
    soundfile.write(target, np.zeros((144000, 2), np.float32), 48000, subtype="FLOAT")
    assert main(["geowarp", str(root / "testset"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert np.all(read_wav(target) == 0)  # kept
    assert main(["geowarp", str(root / "testset"), "--overwrite"]) == 0
    assert "wrote 3 binaural_geowarp.wav file(s); kept 0" in capsys.readouterr().err
    assert np.any(read_wav(target) != 0)
    assert not list(target.parent.glob(".*.tmp"))  # atomic: no temp files left behind


def test_geowarp_errors_name_the_file(tmp_path, capsys):
    assert main(["geowarp", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    folder = tmp_path / "subject1"
    folder.mkdir()
    soundfile.write(folder / "mono.wav", np.zeros(8000, np.float32), 48000)
    np.savetxt(folder / "tx_positions.txt", np.ones((3, 7)))
    assert main(["geowarp", str(tmp_path), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"{folder / 'tx_positions.txt'}: 3 position rows cover 1200 samples" in error
    assert not (folder / "binaural_geowarp.wav").exists()
