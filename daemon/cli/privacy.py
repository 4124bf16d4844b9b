"""Privacy commands: ``open`` (an encrypted note or audio), ``audit verify|show``, ``key export|import`` and
``consent-text``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TypeVar

from hushnote.daemon.cli.common import Subparsers, load_config

T = TypeVar("T")


def cmd_open(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import at_rest

    return at_rest.open_main(load_config(args), Path(args.file), Path(args.output) if args.output else None)


def _audit_path(args: argparse.Namespace) -> Path:
    from hushnote.daemon.privacy import audit

    return load_config(args).path("paths.data") / audit.FILENAME


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import audit_head

    path = _audit_path(args)
    v = audit_head.verify(path.parent)
    if v.ok:
        print(f"The audit log is intact: {v.what}.")
        print(v.head)
        print(f"({path})")
        return 0
    print(f"The audit log has been changed: {v.what}.")
    if v.first_bad is not None and v.first_bad > 1:
        print(f"Entries 1 to {v.first_bad - 1} are intact; entry {v.first_bad} and everything after it cannot "
              "be trusted.")
    else:
        print("No entry in it can be trusted.")
    print(f"({path}; `hushnote audit show` lists the entries)")
    return 1


def _last(items: list[T], n: int | None) -> list[T]:
    return items if n is None else items[-n:] if n > 0 else []


def cmd_audit_show(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import audit

    path = _audit_path(args)
    n = max(0, int(args.n)) if args.n is not None else None
    if args.json:
        entries: list[object] = []
        if path.exists():
            for line in path.read_text(encoding="ascii", errors="replace").splitlines():
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    entries.append({"unreadable": True})
        print(json.dumps(_last(entries, n), indent=2))
        return 0
    lines = list(audit.show(path))
    if not lines:
        print("The audit log is empty (nothing has been recorded yet).")
        return 0
    for line in _last(lines, n):
        print(line)
    return 0


def cmd_key_export(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import key_backup

    dest = Path(args.file)
    key_backup.export_key(load_config(args), dest)
    print(f"The master key was saved to {dest}, protected by your backup passphrase.")
    print("Keep this file away from this computer (e.g. on a USB stick in a locked drawer) and the passphrase "
          "somewhere else. With both, `hushnote key import` restores the key; without them, encrypted notes and "
          "recordings cannot be opened if this computer's key is lost. Each encrypted file's own key is kept in "
          "the keys folder of hushnote's data folder: include that folder in your usual backups.")
    return 0


def cmd_key_import(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import key_backup

    src = Path(args.file)
    done = key_backup.import_key(load_config(args), src, force=bool(args.force))
    if not done.changed:
        print(f"The key in {src} is already the master key in use ({done.where}); nothing was changed.")
        return 0
    print(f"The master key was restored from {src} into {done.where}. Encrypted notes and recordings can be "
          "opened again.")
    return 0


def cmd_consent_text(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import consent

    print(consent.client_text(load_config(args)))
    return 0


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    sp = sub.add_parser("open", parents=[common], help="show an encrypted note, or save a copy of encrypted audio")
    sp.add_argument("file", help="an encrypted note or transcript (printed), or an encrypted audio file")
    sp.add_argument("--output", metavar="FILE", help="save the decrypted copy here (never overwrites)")
    sp.set_defaults(func=cmd_open)
    sp = sub.add_parser("audit", help="check or show the privacy audit log (no patient information in it)")
    asub = sp.add_subparsers(dest="audit_cmd", metavar="verify|show", required=True)
    a = asub.add_parser("verify", parents=[common], help="check that no entry was changed, removed or reordered")
    a.set_defaults(func=cmd_audit_verify)
    a = asub.add_parser("show", parents=[common], help="list the entries")
    a.add_argument("--json", action="store_true")
    a.add_argument("-n", type=int, metavar="N", help="only the last N entries")
    a.set_defaults(func=cmd_audit_show)
    sp = sub.add_parser("key", help="back up or restore the encryption key (protected by a passphrase)")
    ksub = sp.add_subparsers(dest="key_cmd", metavar="export|import", required=True)
    k = ksub.add_parser("export", parents=[common], help="write the master key to FILE, protected by a passphrase "
                        "(asked for, or from $HUSHNOTE_BACKUP_PASSPHRASE)")
    k.add_argument("file", help="the backup file to create (never overwritten)")
    k.set_defaults(func=cmd_key_export)
    k = ksub.add_parser("import", parents=[common], help="restore the master key from a backup FILE")
    k.add_argument("file", help="a backup written by `hushnote key export`")
    k.add_argument("--force", action="store_true",
                   help="replace a different key already in place (files encrypted with it can no longer be opened)")
    k.set_defaults(func=cmd_key_import)
    sp = sub.add_parser("consent-text", parents=[common], help="print a paragraph to read to a client "
                        "(with your retention setting)")
    sp.set_defaults(func=cmd_consent_text)
