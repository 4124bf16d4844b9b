"""From draft to record: ``sign``, ``verify``, ``unsign``, ``copy`` and ``export`` a note.

The note work is in ``hushnote.daemon.notes`` (signing, document, export, clipboard); this module wires in
what sits beside the notes room: the job that made the note and the deletion of its audio once the note is
signed (``retention.after_sign``), through the running service when there is one, else directly, both by
``Retention.delete_now``, the path ``hushnote delete ID`` uses. Nothing printed or logged holds note text.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hushnote.daemon.cli.common import Subparsers, load_config

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config
    from hushnote.daemon.jobs.store import Job
    from hushnote.daemon.privacy.audit import AuditLog
    from hushnote.daemon.privacy.vault import Vault

AFTER_SIGN_WHY = "retention.after_sign=delete: the note was signed"


def _vault_for(cfg: Config, path: Path) -> Vault | None:
    """The vault, only for an encrypted note (``notes.encrypt``)."""
    from hushnote.daemon.privacy.vault import is_encrypted

    if not path.is_file() or not is_encrypted(path):
        return None
    from hushnote.daemon.privacy import at_rest

    return at_rest.open_vault(cfg, create=False)


def _audit(cfg: Config) -> AuditLog:
    from hushnote.daemon.privacy.audit import FILENAME
    from hushnote.daemon.privacy.audit_head import audit_log

    return audit_log(cfg.path("paths.data") / FILENAME)  # its head kept a second time, as the service does


def _job_for(cfg: Config, note: Path, vault: Vault | None) -> Job | None:
    """The service's job that wrote ``note`` (None for a note made by ``hushnote process``/``draft``)."""
    from hushnote.daemon.core.errors import HushnoteError
    from hushnote.daemon.jobs.store import Store
    from hushnote.daemon.notes.notefile import parse_front_matter
    from hushnote.daemon.privacy.at_rest import read_text
    from hushnote.daemon.service.service import DB_NAME

    db = cfg.path("paths.data") / DB_NAME
    if not db.is_file() or not note.is_file():
        return None
    try:
        named = parse_front_matter(read_text(note, vault))[0].get("job")
    except (OSError, UnicodeDecodeError, HushnoteError):
        named = None  # not a readable note: signing says so plainly
    with Store(db) as store:
        return store.job_for_note(note, named if isinstance(named, str) else None)


def default_signer() -> str:
    """The account's full name (``/etc/passwd`` comment), else its login name."""
    try:
        import pwd

        full = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
        if full:
            return full
    except (ImportError, KeyError, OSError):
        pass
    return getpass.getuser()


def _delete_via_service(cfg: Config, job_id: str) -> dict[str, Any] | None:
    """Ask the running service to delete the audio; None when no service is running."""
    from hushnote.ipc.client import DaemonNotRunning, IpcClient
    from hushnote.ipc.paths import endpoint

    try:
        return IpcClient(endpoint(cfg)).call("delete", id=job_id)
    except DaemonNotRunning:
        return None


def _delete_here(cfg: Config, job_id: str, vault: Vault | None, log: AuditLog) -> bool:
    from hushnote.daemon.jobs.retention import Retention
    from hushnote.daemon.jobs.store import Store
    from hushnote.daemon.service.service import DB_NAME

    with Store(cfg.path("paths.data") / DB_NAME) as store:
        receipt = Retention(store, cfg, vault=vault).delete_now(job_id, AFTER_SIGN_WHY)
    if receipt is not None:
        log.append("deletion.receipt", job_id=job_id, kind="audio", reason="retention.after_sign")
    return receipt is not None


def delete_audio_after_sign(cfg: Config, job: Job | None, vault: Vault | None, log: AuditLog) -> int:
    """``retention.after_sign``: crypto-shred the signed session's audio now (or say why not)."""
    from hushnote.daemon.core.errors import HushnoteError
    from hushnote.ipc.client import IpcError

    if cfg["retention.after_sign"] == "keep":
        print("Its audio is kept (retention.after_sign = \"keep\"); retention.audio_days deletes it later.")
        return 0
    if job is None:
        print("No recording kept by hushnote belongs to this note, so there is no audio to delete.")
        return 0
    if job.audio_deleted:
        print(f"The audio of job {job.id} was already deleted.")
        return 0
    try:
        result = _delete_via_service(cfg, job.id)
        deleted = bool(result.get("deleted")) if result is not None else _delete_here(cfg, job.id, vault, log)
    except IpcError as exc:
        print(f"The note is signed, but its audio was not deleted: {exc.message}", file=sys.stderr)
        return 1
    except (HushnoteError, OSError) as exc:
        msg = exc.message if isinstance(exc, HushnoteError) else f"({type(exc).__name__})"
        print(f"The note is signed, but its audio was not deleted: {msg} Delete it with "
              f"`hushnote delete {job.id}`.", file=sys.stderr)
        return 1
    if deleted:
        print(f"The audio of job {job.id} is deleted: its key was destroyed, so it can never be recovered.")
    else:
        print(f"The audio of job {job.id} was already gone.")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import signing

    cfg = load_config(args)
    path = Path(args.note)
    vault = _vault_for(cfg, path)
    log = _audit(cfg)
    job = _job_for(cfg, path, vault)
    name = args.name if args.name is not None else default_signer()
    digest = signing.sign(path, name=name, vault=vault, log=log, job_id=job.id if job else None)
    print(f"Signed by {name.strip()}: {path}")
    print(f"It is now read-only; its sha256 ({digest[:16]}…) is in the audit log. "
          "`hushnote verify NOTE` checks it any time.")
    return delete_audio_after_sign(cfg, job, vault, log)


def cmd_verify(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import signing
    from hushnote.daemon.privacy.audit import FILENAME

    cfg = load_config(args)
    path = Path(args.note)
    verdict = signing.verify(path, vault=_vault_for(cfg, path), audit_path=cfg.path("paths.data") / FILENAME)
    print(verdict.what)
    return 0 if verdict.ok else 1


def cmd_unsign(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import signing

    cfg = load_config(args)
    path = Path(args.note)
    vault = _vault_for(cfg, path)
    job = _job_for(cfg, path, vault)
    signing.unsign(path, reason=args.reason, vault=vault, log=_audit(cfg), job_id=job.id if job else None)
    print(f"{path} is a draft again and can be edited; the reason is kept in its front matter (amendments). "
          "Sign it again with `hushnote sign` when it is final.")
    return 0


def _read_note(cfg: Config, path: Path) -> tuple[str, bool]:
    """The note's text (decrypted in memory if it is encrypted) and whether it was encrypted."""
    from hushnote.daemon.core.errors import InputError
    from hushnote.daemon.privacy.at_rest import read_text

    if not path.is_file():
        raise InputError(f"{path} does not exist.", "Give the path of a .note.md file.", path=str(path))
    vault = _vault_for(cfg, path)
    try:
        return read_text(path, vault), vault is not None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text note.", "Give the path of a .note.md file.", path=str(path)) from None


def cmd_copy(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import clipboard, document, export

    cfg = load_config(args)
    doc = document.parse(_read_note(cfg, Path(args.note))[0])
    text = export.plain_text(doc, section=args.section, stamps=not args.plain)
    tool = clipboard.copy(text)
    what = f"The {args.section} section" if args.section else "The note"
    print(f"{what} is on the clipboard as plain text ({len(text.split())} words, via {tool})"
          f"{', without timestamps' if args.plain else ''}.")
    if doc.status != "signed":
        print("It is an unsigned draft: sign it (`hushnote sign`) once it is final.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import document, export, signing

    cfg = load_config(args)
    path = Path(args.note)
    text, encrypted = _read_note(cfg, path)
    out = export.export(document.parse(text), path, args.format, stamps=not args.plain)
    _audit(cfg).append("note.exported", note_sha256=signing.content_sha256(text), format=args.format,
                       encrypted=encrypted)
    print(f"Exported: {out}")
    if encrypted:
        print("The note is encrypted, but this exported copy is not encrypted: keep it safe, and delete it once "
              "it is in the record.")
    return 0


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    sp = sub.add_parser("sign", parents=[common], help="sign a reviewed note: final, read-only, its audio deleted")
    sp.add_argument("note", metavar="NOTE", help="the .note.md file")
    sp.add_argument("--name", help="who signs (default: your account's name)")
    sp.set_defaults(func=cmd_sign)
    sp = sub.add_parser("verify", parents=[common], help="check that a signed note has not changed since signing")
    sp.add_argument("note", metavar="NOTE")
    sp.set_defaults(func=cmd_verify)
    sp = sub.add_parser("unsign", parents=[common], help="turn a signed note back into an editable draft")
    sp.add_argument("note", metavar="NOTE")
    sp.add_argument("--reason", required=True, help="why it is reopened (kept in the note, not in the audit log)")
    sp.set_defaults(func=cmd_unsign)
    sp = sub.add_parser("copy", parents=[common], help="put a note (or one section) on the clipboard as plain text")
    sp.add_argument("note", metavar="NOTE")
    sp.add_argument("--section", metavar="NAME", help="only this section (e.g. plan)")
    sp.add_argument("--plain", action="store_true", help="without timestamps")
    sp.set_defaults(func=cmd_copy)
    sp = sub.add_parser("export", parents=[common], help="write the note as a .txt, .docx or .pdf file beside it")
    sp.add_argument("note", metavar="NOTE")
    sp.add_argument("--format", choices=["txt", "docx", "pdf"], required=True)
    sp.add_argument("--plain", action="store_true", help="without timestamps")
    sp.set_defaults(func=cmd_export)
