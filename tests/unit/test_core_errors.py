"""``errors.reading``: an OSError while reading a file becomes one plain InputError naming the file and what to
do; anything else passes through untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from hushnote.daemon.core.errors import InputError, reading


def test_missing_unreadable_and_other_os_errors(tmp_path: Path) -> None:
    missing = tmp_path / "Jane session.m4a"
    with pytest.raises(InputError) as e, reading(missing):
        missing.read_bytes()
    assert str(e.value) == f"{missing} does not exist. Check the file name and try again."
    assert e.value.path == str(missing) and e.value.__cause__ is None and e.value.__suppress_context__

    with pytest.raises(InputError) as e, reading(missing):
        raise PermissionError(13, "Permission denied")  # as open() raises it (root ignores file modes)
    assert e.value.message == f"{missing} cannot be read (permission denied)."
    assert "permissions" in e.value.hint

    with pytest.raises(InputError) as e, reading(tmp_path):
        tmp_path.read_bytes()  # a folder
    assert e.value.message == f"{tmp_path} cannot be read (Is a directory)."


def test_other_errors_pass_through(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an OSError"), reading(tmp_path):
        raise ValueError("not an OSError")
    with reading(tmp_path):
        pass  # and nothing happens without an error
