"""``hushnote key export|import``: the master key backed up under a passphrase and restored, for real: an
encrypted note (``notes.encrypt = true``), the key folder removed, the key imported, the note opens again."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from hushnote.daemon.core.config import config_dir
from hushnote.daemon.privacy.keys import MasterKeyStore
from hushnote.daemon.privacy.vault import is_encrypted

from tests.support.cli import run_cli

BACKUP_PP = "correct horse battery staple"
DIALOGUE = """[doctor] How have you been sleeping since our last session?
[patient] Much better, I sleep about seven hours most nights now and I wake up rested.
[doctor] That is good to hear. And the worry about work that kept you awake?
[patient] It still comes back on Sunday evenings, but the breathing exercise helps me settle.
[doctor] Let us keep practising the breathing exercise and talk about Sunday evenings next time.
"""


def hushnote(cfg: Path, *args: str, backup_pp: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HUSHNOTE_CONFIG", "HUSHNOTE_BACKUP_PASSPHRASE")}
    if backup_pp is not None:
        env["HUSHNOTE_BACKUP_PASSPHRASE"] = backup_pp
    return run_cli(*args, "--config", str(cfg), env=env)


def one_clear_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def encrypted_note(home: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """A settings file with ``notes.encrypt = true`` and a real encrypted note drafted by ``hushnote draft``:
    (settings file, note, the note as ``hushnote open`` prints it)."""
    cfg = home / "config.toml"
    notes = home / "Notes"
    cfg.write_text(f'[paths]\ndata = "{home / "data" / "hn"}"\nnotes = "{notes}"\ninbox = "{home / "Inbox"}"\n'
                   '[notes]\nencrypt = true\n[drafting]\nengine = "extractive"\nmin_words = 5\n')
    dialogue = tmp_path / "session.txt"
    dialogue.write_text(DIALOGUE, encoding="utf-8")
    r = hushnote(cfg, "draft", str(dialogue), "--out", str(notes))
    assert r.returncode == 0, r.stderr
    note = notes / "session.note.md"
    assert is_encrypted(note)
    shown = hushnote(cfg, "open", str(note))
    assert shown.returncode == 0 and "DRAFT" in shown.stdout and "breathing exercise" in shown.stdout, shown.stderr
    return cfg, note, shown.stdout


def test_key_backup_round_trip_opens_an_encrypted_note(home: Path, tmp_path: Path) -> None:
    cfg, note, shown = encrypted_note(home, tmp_path)

    # export: needs a passphrase, writes a 0600 file with no plain key in it, never overwrites
    backup = tmp_path / "usb" / "hushnote-key.backup"
    backup.parent.mkdir()
    one_clear_line(hushnote(cfg, "key", "export", str(backup)), 6, "HUSHNOTE_BACKUP_PASSPHRASE")
    assert not backup.exists()
    one_clear_line(hushnote(cfg, "key", "export", str(backup), backup_pp="short"), 6, "too short")
    r = hushnote(cfg, "key", "export", str(backup), backup_pp=BACKUP_PP)
    assert r.returncode == 0, r.stderr
    assert str(backup) in r.stdout and "hushnote key import" in r.stdout
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    doc = json.loads(backup.read_text(encoding="utf-8"))
    assert doc["format"] == "hushnote master key backup" and doc["key"]["kdf"] == "argon2id"
    stored = json.loads((config_dir() / "master.key").read_text(encoding="utf-8"))["key"]
    assert stored not in backup.read_text(encoding="utf-8")
    one_clear_line(hushnote(cfg, "key", "export", str(backup), backup_pp=BACKUP_PP), 6, "already exists")

    # the key folder is lost: the note cannot be opened, and the message says how to restore
    shutil.rmtree(config_dir())
    err = one_clear_line(hushnote(cfg, "open", str(note)), 6, "master key is missing", "hushnote key import")
    assert "DRAFT" not in err

    one_clear_line(hushnote(cfg, "key", "import", str(backup), backup_pp="wrong passphrase"), 6,
                   "backup passphrase is wrong")
    one_clear_line(hushnote(cfg, "key", "import", str(cfg), backup_pp=BACKUP_PP), 6, "not a hushnote key backup")
    assert not (config_dir() / "master.key").exists()
    r = hushnote(cfg, "key", "import", str(backup), backup_pp=BACKUP_PP)
    assert r.returncode == 0, r.stderr
    assert "restored" in r.stdout
    again = hushnote(cfg, "open", str(note))
    assert again.returncode == 0, again.stderr
    assert again.stdout == shown
    r = hushnote(cfg, "key", "import", str(backup), backup_pp=BACKUP_PP)
    assert r.returncode == 0 and "already the master key in use" in r.stdout, r.stderr


def test_import_refuses_to_replace_a_different_key_without_force(home: Path, tmp_path: Path) -> None:
    cfg, note, _ = encrypted_note(home, tmp_path)
    backup = tmp_path / "key.backup"
    assert hushnote(cfg, "key", "export", str(backup), backup_pp=BACKUP_PP).returncode == 0
    shutil.rmtree(config_dir())
    other = MasterKeyStore(config_dir(), use_keyring=False).create()  # e.g. a new key made by mistake
    before = (config_dir() / "master.key").read_bytes()
    one_clear_line(hushnote(cfg, "key", "import", str(backup), backup_pp=BACKUP_PP), 6,
                   "different hushnote master key is already in place", "Nothing was changed", "--force")
    assert (config_dir() / "master.key").read_bytes() == before
    one_clear_line(hushnote(cfg, "open", str(note)), 6, "does not match")
    r = hushnote(cfg, "key", "import", str(backup), "--force", backup_pp=BACKUP_PP)
    assert r.returncode == 0, r.stderr
    assert (config_dir() / "master.key").read_bytes() != before and other.key
    assert hushnote(cfg, "open", str(note)).returncode == 0
