"""Tracking files: rows read back bit for bit, and files that do not fit are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from binauralgrad.io.positions import read_positions, write_positions


def test_positions_read_back_bit_for_bit(tmp_path):
    rows = np.random.default_rng(1).standard_normal((50, 7)).astype(np.float32) * 3
    write_positions(tmp_path / "p.txt", rows)
    np.testing.assert_array_equal(read_positions(tmp_path / "p.txt"), rows)


@pytest.mark.parametrize("text,num_samples,message", [
    ("1 2 3\n", None, "rows of 3 values, expected 7"),
    ("0 0 0 0 0 0 1\nnan 0 0 0 0 0 1\n", None, r"NaN or inf in positions \(row 1\)"),
    ("0 0 0 0 0 0 1\n", 800, "1 position rows cover 400 samples, but the audio has 800"),
    ("x y\n", None, "not a table of numbers"),
])
def test_tracking_files_that_do_not_fit_are_refused_by_name(tmp_path, text, num_samples,
                                                            message):
    path = tmp_path / "tx_positions.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_positions(path, num_samples=num_samples)
    with pytest.raises(FileNotFoundError, match="no such positions file"):
        read_positions(tmp_path / "missing.txt")
