"""Profiling a data file (tuneforge init, the web interface's preview): limits on what a file can cost."""

from __future__ import annotations

import pytest


def test_a_very_wide_file_is_one_error_quickly(tmp_path):
    """200,000 columns: refused in well under a second (the column list used to grow quadratically)."""
    import time

    from tuneforge.data.profile import MAX_COLUMNS, profile_file
    from tuneforge.errors import DataError

    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(200_000)) + "\n" + ",".join("x" * 200_000) + "\n")
    started = time.monotonic()
    with pytest.raises(DataError, match=f"more than {MAX_COLUMNS:,} columns"):
        profile_file(wide)
    assert time.monotonic() - started < 5
