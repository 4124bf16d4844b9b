"""``hushnote copy`` puts plain text on a real X clipboard (Xvfb + xclip), read back with ``xclip -o``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hushnote.daemon.notes import document, export

from tests.support.aci import aci_rows
from tests.support.cli import run_cli
from tests.support.xdesktop import xserver


def drafted_note(eval_dir: Path, tmp_path: Path) -> Path:
    src = tmp_path / "visit.txt"
    src.write_text(aci_rows(eval_dir)[3]["dialogue"] + "\n", encoding="utf-8")
    r = run_cli("draft", str(src), "--engine", "extractive", timeout=120)
    assert r.returncode == 0, r.stderr
    return tmp_path / "visit.note.md"


def test_copy_to_the_clipboard_under_a_real_x_server(home: Path, eval_dir: Path, tmp_path: Path) -> None:
    if shutil.which("xclip") is None:
        pytest.skip("not installed: xclip")
    note = drafted_note(eval_dir, tmp_path)
    doc = document.parse(note.read_text())
    with xserver() as display:
        env = {**os.environ, "DISPLAY": display}
        env.pop("WAYLAND_DISPLAY", None)

        def clipboard() -> str:
            return subprocess.run(["xclip", "-selection", "clipboard", "-o"], env=env, capture_output=True,
                                  text=True, timeout=10, check=True).stdout

        r = run_cli("copy", str(note), env=env)
        assert r.returncode == 0 and "via xclip" in r.stdout and "unsigned draft" in r.stdout, r.stderr
        got = clipboard()
        assert got == export.plain_text(doc)
        assert "---" not in got and "##" not in got and "- " not in got and "status" not in got
        assert re.search(r"\[line \d+\]", got)
        r = run_cli("copy", str(note), "--section", "plan", "--plain", env=env)
        assert r.returncode == 0, r.stderr
        plan = clipboard()
        assert plan.splitlines() == [document.strip_stamps(it) for it in doc.section("plan").items]  # type: ignore[union-attr]
        assert "Plan" not in plan.splitlines()[0] and "[line" not in plan
        r = run_cli("copy", str(note), "--section", "vitals", env=env)
        assert r.returncode == 3 and "no section called 'vitals'" in r.stderr and "Subjective" in r.stderr
    no_desktop = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = run_cli("copy", str(note), env=no_desktop)
    assert r.returncode == 1 and "no desktop session" in r.stderr and "hushnote export" in r.stderr
