"""From draft to record, through the real CLI: sign (read-only, hash in the audit log, audio crypto-shredded
right away, through the running service or without one), verify (an edit, even with a recomputed hash, is
caught), unsign (the reason kept in the note, only its hash in the log), encrypted notes, and export to
txt/docx/pdf parsed back with python-docx and pypdf."""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Note
from hushnote.daemon.jobs.inbox import Ingestor
from hushnote.daemon.jobs.store import Job, Store
from hushnote.daemon.notes import document, export, signing
from hushnote.daemon.notes.notefile import DRAFT_BANNER, parse_front_matter, read_transcript
from hushnote.daemon.notes.pipeline import draft_note, write_outputs
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.privacy import vault as vault_mod
from hushnote.daemon.privacy.keys import KeyDestroyed
from hushnote.daemon.service.service import DB_NAME, Service

from tests.support.aci import aci_rows
from tests.support.cli import run_cli
from tests.support.config import make_cfg, write_toml
from tests.support.service import audit_of as of
from tests.support.speech import JFK

REASON = "Corrected the dose after checking the pharmacy record"


@dataclass
class Rig:
    cfg: Config
    config_file: Path
    note: Path
    audio: Path
    job: Job
    vault: vault_mod.Vault


def hushnote(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--config", str(rig.config_file), timeout=120)


def make_rig(home: Path, eval_dir: Path, tmp_path: Path, **overrides: Any) -> Rig:
    """A session the service finished: its audio encrypted in the store, its note beside the transcript."""
    cfg = make_cfg(home, **overrides)
    inbox, notes = cfg.path("paths.inbox"), cfg.path("paths.notes")
    inbox.mkdir(parents=True)
    notes.mkdir(parents=True)
    v = at_rest.open_vault(cfg)
    dialogue = tmp_path / "visit.txt"
    dialogue.write_text(aci_rows(eval_dir)[3]["dialogue"] + "\n", encoding="utf-8")
    transcript = read_transcript(dialogue)
    note: Note = draft_note(transcript, cfg, template="soap", engine="extractive")
    with Store(cfg.path("paths.data") / DB_NAME) as store:
        shutil.copy(eval_dir / "speech" / JFK, inbox / "visit.flac")
        job = Ingestor(store, inbox, notes, vault=v).ingest(inbox / "visit.flac")
        assert job is not None and store.claim("test", 60) is not None
        t_path, n_path = write_outputs(transcript, note, notes, job.stem, unique=False,
                                       vault=v if cfg["notes.encrypt"] else None, job_id=job.id)  # as the worker
        assert store.complete(job.id, note_path=n_path, transcript_path=t_path, audio_path=Path(job.store_path))
        job = store.get(job.id)  # type: ignore[assignment]
    assert job is not None and vault_mod.is_encrypted(Path(job.store_path))
    return Rig(cfg, write_toml(cfg, tmp_path / "config.toml"), n_path, Path(job.store_path), job, v)


@pytest.fixture()
def rig(home: Path, eval_dir: Path, tmp_path: Path) -> Rig:
    return make_rig(home, eval_dir, tmp_path)


def fields(path: Path, v: vault_mod.Vault | None = None) -> dict[str, Any]:
    return parse_front_matter(at_rest.read_text(path, v))[0]


def audio_is_shredded(rig: Rig) -> bool:
    try:  # the ingest names the audio's key by the job id
        rig.vault.data_key(rig.job.id)
    except KeyDestroyed:
        return not rig.audio.exists()
    return False


def test_sign_verify_unsign_and_the_audio_goes_at_once(rig: Rig) -> None:
    r = hushnote(rig, "sign", str(rig.note), "--name", "Dr. Ada Example")
    assert r.returncode == 0, r.stderr
    assert "Signed by Dr. Ada Example" in r.stdout and "key was destroyed" in r.stdout
    f = fields(rig.note)
    assert f["status"] == "signed" and f["signed_by"] == "Dr. Ada Example" and f["signed_at"]
    text = rig.note.read_text()
    assert f["signed_sha256"] == signing.content_sha256(text) and DRAFT_BANNER not in text
    assert not rig.note.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), "signed: read-only"
    assert audio_is_shredded(rig)
    with Store(rig.cfg.path("paths.data") / DB_NAME) as store:
        assert [d.why for d in store.deletions()] == ["retention.after_sign=delete: the note was signed"]
    assert {"job_id": rig.job.id, "note_sha256": f["signed_sha256"], "encrypted": False} in of(rig.cfg, "note.signed")
    assert {"job_id": rig.job.id, "kind": "audio", "reason": "retention.after_sign"} in of(rig.cfg, "deletion.receipt")

    r = hushnote(rig, "verify", str(rig.note))
    assert r.returncode == 0 and "unchanged since Dr. Ada Example signed it" in r.stdout

    r = hushnote(rig, "sign", str(rig.note))
    assert r.returncode == 3 and "already signed" in r.stderr and "Traceback" not in r.stderr

    rig.note.chmod(0o600)  # someone edits the signed note in an editor
    rig.note.write_text(text.replace("back pain", "neck pain", 1))
    r = hushnote(rig, "verify", str(rig.note))
    assert r.returncode == 1 and "CHANGED" in r.stdout
    forged = rig.note.read_text()  # ... and recomputes the hash line too: the audit log has no such signature
    rig.note.write_text(forged.replace(f["signed_sha256"], signing.content_sha256(forged)))
    r = hushnote(rig, "verify", str(rig.note))
    assert r.returncode == 1 and "audit log" in r.stdout

    r = hushnote(rig, "unsign", str(rig.note), "--reason", REASON)
    assert r.returncode == 0, r.stderr
    f = fields(rig.note)
    assert f["status"] == "draft" and "signed_sha256" not in f and "signed_by" not in f
    assert f["amendments"][0]["reason"] == REASON and f["amendments"][0]["signed_by"] == "Dr. Ada Example"
    assert rig.note.stat().st_mode & stat.S_IWUSR and DRAFT_BANNER in rig.note.read_text()
    reason_hash = hashlib.sha256(REASON.encode()).hexdigest()
    assert any(e["reason_sha256"] == reason_hash for e in of(rig.cfg, "note.unsigned"))
    log = (rig.cfg.path("paths.data") / "audit.jsonl").read_text()
    assert "pharmacy" not in log and "Ada" not in log and "visit" not in log, "no PHI in the audit log"
    r = hushnote(rig, "audit", "verify")
    assert r.returncode == 0, r.stdout

    r = hushnote(rig, "sign", str(rig.note), "--name", "Dr. Ada Example")
    assert r.returncode == 0 and "already deleted" in r.stdout
    assert hushnote(rig, "verify", str(rig.note)).returncode == 0


def test_unverified_sentences_and_bad_input_are_refused_plainly(rig: Rig, tmp_path: Path) -> None:
    text = rig.note.read_text()
    marked = re.sub(r"^- ", "- [unverified] ", text, count=1, flags=re.MULTILINE)
    rig.note.write_text(marked)
    r = hushnote(rig, "sign", str(rig.note))
    assert r.returncode == 3 and "1 sentence(s) marked [unverified]" in r.stderr
    assert rig.note.read_text() == marked and rig.audio.exists(), "nothing changed"
    r = hushnote(rig, "verify", str(rig.note))
    assert r.returncode == 3 and "not signed" in r.stderr
    r = hushnote(rig, "unsign", str(rig.note), "--reason", "x")
    assert r.returncode == 3 and "not signed" in r.stderr
    for args in (["sign", str(tmp_path / "missing.note.md")], ["sign", str(rig.config_file)],
                 ["export", str(tmp_path / "missing.note.md"), "--format", "pdf"]):
        r = hushnote(rig, *args)
        assert r.returncode == 3 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_after_sign_keep_leaves_the_audio(home: Path, eval_dir: Path, tmp_path: Path) -> None:
    rig = make_rig(home, eval_dir, tmp_path, retention__after_sign="keep")
    r = hushnote(rig, "sign", str(rig.note), "--name", "A")
    assert r.returncode == 0 and "kept" in r.stdout
    assert rig.audio.exists() and rig.vault.data_key(rig.job.id)
    assert of(rig.cfg, "deletion.receipt") == []


def test_sign_asks_the_running_service_to_delete(rig: Rig) -> None:
    with Service(rig.cfg, ipc=True) as svc:
        assert svc.store is not None
        r = hushnote(rig, "sign", str(rig.note), "--name", "A")
        assert r.returncode == 0, r.stderr
        assert [d.why for d in svc.store.deletions()] == ["deleted by the user"]  # the service's own path
    assert audio_is_shredded(rig)
    assert {"job_id": rig.job.id, "kind": "audio", "reason": "user"} in of(rig.cfg, "deletion.receipt")


def test_encrypted_notes_sign_verify_and_export(home: Path, eval_dir: Path, tmp_path: Path) -> None:
    rig = make_rig(home, eval_dir, tmp_path, notes__encrypt=True)
    assert vault_mod.is_encrypted(rig.note)
    r = hushnote(rig, "sign", str(rig.note), "--name", "A")
    assert r.returncode == 0, r.stderr
    assert vault_mod.is_encrypted(rig.note) and fields(rig.note, rig.vault)["status"] == "signed"
    assert of(rig.cfg, "note.signed")[0]["encrypted"] is True
    assert hushnote(rig, "verify", str(rig.note)).returncode == 0
    r = hushnote(rig, "export", str(rig.note), "--format", "txt")
    assert r.returncode == 0 and "not encrypted" in r.stdout
    out = Path(r.stdout.split("Exported: ", 1)[1].splitlines()[0])
    assert "Signed by A on" in out.read_text() and "Subjective" in out.read_text()
    assert of(rig.cfg, "note.exported") == [{"note_sha256": fields(rig.note, rig.vault)["signed_sha256"],
                                             "format": "txt", "encrypted": True}]


def test_exports_parse_back_with_the_same_content(rig: Rig) -> None:
    from docx import Document
    from pypdf import PdfReader

    doc = document.parse(rig.note.read_text())
    quote = doc.sections[0].items[0]
    outs = {}
    for fmt in ("txt", "docx", "pdf"):
        r = hushnote(rig, "export", str(rig.note), "--format", fmt)
        assert r.returncode == 0, r.stderr
        outs[fmt] = Path(r.stdout.split("Exported: ", 1)[1].strip())
        assert outs[fmt].parent == rig.note.parent and outs[fmt].suffix == f".{fmt}"
    assert outs["txt"].read_text() == export.plain_text(doc, header=True)
    d = Document(str(outs["docx"]))
    heads = [p.text for p in d.paragraphs if p.style is not None and p.style.name == "Heading 2"]
    assert heads == [s.title for s in doc.sections] == ["Subjective", "Objective", "Assessment", "Plan"]
    body = [p.text for p in d.paragraphs if p.style is not None and p.style.name == "Normal"]
    assert quote in body and all(it in body for s in doc.sections for it in s.items)
    assert not any(t.startswith(("#", "- ", "---")) for t in body), "no Markdown in the Word file"
    pdf = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(str(outs["pdf"])).pages)
    for s in doc.sections:
        assert s.title in pdf
    assert " ".join(quote.split()) in pdf and "status:" not in pdf and "##" not in pdf
    r = hushnote(rig, "export", str(rig.note), "--format", "pdf", "--plain")
    again = Path(r.stdout.split("Exported: ", 1)[1].strip())
    assert again != outs["pdf"] and again.name.endswith("-2.pdf"), "an export never overwrites a file"
    text = " ".join(p.extract_text() for p in PdfReader(str(again)).pages)
    assert "[line " not in text and "[line " in pdf
