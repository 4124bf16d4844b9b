"""The ``hushnote`` command: argument parsing, exit codes and plain-English errors. No logic lives here."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hushnote.daemon import __version__
from hushnote.daemon.core.datatypes import Progress, no_progress
from hushnote.daemon.core.errors import HushnoteError

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config

# Nothing in the clinical path may reach a model hub: pin offline mode before any library import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger("hushnote")

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def _config(args: argparse.Namespace) -> Config:
    from hushnote.daemon.core import config

    return config.load(getattr(args, "config", None))


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress]:
    """A progress bar with percentage and ETA on stderr (plain lines when stderr is not a terminal)."""
    if not enabled:
        yield no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    console = Console(stderr=True)
    labels = {"decode": "Reading audio", "transcribe": "Transcribing", "draft": "Drafting note", "write": "Writing"}
    with RichProgress(TextColumn("{task.description:<14}"), BarColumn(), TaskProgressColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, fraction: float, detail: str = "") -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=1000)
            bar.update(tasks[stage], completed=int(max(0.0, min(1.0, fraction)) * 1000))

        yield update


# ----------------------------------------------------------------------------- one-shot commands

def cmd_process(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import pipeline

    cfg = _config(args)
    src = Path(args.audio)
    out = Path(args.out) if args.out else cfg.path("paths.notes")
    vault = None
    if cfg["notes.encrypt"]:  # the note and transcript are written encrypted (read with `hushnote open`)
        from hushnote.daemon.privacy import at_rest

        vault = at_rest.open_vault(cfg)
    with _progress_bar(not args.quiet) as progress:
        result = pipeline.process(src, cfg, out_dir=out, template=args.template, engine=args.engine,
                                  progress=progress, vault=vault)
    note = result.note
    print(f"Transcript: {result.transcript_path}")
    print(f"Note:       {result.note_path}")
    summary = f"Drafted with the {note.engine} engine, {note.template.upper()} template."
    if note.unverified_count:
        summary += f" {note.unverified_count} sentence(s) marked [unverified]: check them before signing."
    if note.risk:
        summary += f" {len(note.risk)} risk statement(s) quoted under 'For clinician review'."
    print(summary)
    if args.print:
        print()
        from hushnote.daemon.privacy.at_rest import read_text

        print(read_text(result.note_path, vault))
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import notefile, pipeline

    cfg = _config(args)
    src = Path(args.transcript)
    vault = None
    from hushnote.daemon.privacy.vault import is_encrypted

    encrypted = is_encrypted(src)
    if encrypted or cfg["notes.encrypt"]:  # read (and write the note) encrypted, in memory only
        from hushnote.daemon.privacy import at_rest

        vault = at_rest.open_vault(cfg, create=not encrypted)
    transcript = notefile.read_transcript(src, vault)
    note = pipeline.draft_note(transcript, cfg, template=args.template, engine=args.engine)
    out = Path(args.out) if args.out else src.parent
    stem = src.name.removesuffix(".transcript.md").removesuffix(".txt").removesuffix(".md")
    from hushnote.daemon.core.fileio import atomic_write_text, unique_stem

    stem = unique_stem(out, stem, (pipeline.NOTE_SUFFIX,))
    path = out / f"{stem}{pipeline.NOTE_SUFFIX}"
    if vault is not None:
        from hushnote.daemon.privacy.at_rest import write_text

        write_text(path, notefile.render_note(note, transcript), vault, "note")
    else:
        atomic_write_text(path, notefile.render_note(note, transcript))
    print(f"Note: {path}")
    if note.unverified_count:
        print(f"{note.unverified_count} sentence(s) marked [unverified]: check them before signing.")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from hushnote.daemon.core import config

    cfg = _config(args)
    if args.json:
        print(json.dumps(cfg.as_dict(), indent=2))
    else:
        print(config.to_toml(cfg), end="")
    return 0


def cmd_config_path(args: argparse.Namespace) -> int:
    from hushnote.daemon.core import config

    path = config.resolve_config_path(getattr(args, "config", None))
    print(path)
    if not path.exists():
        print("(no file there yet: the defaults are in use)", file=sys.stderr)
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from hushnote.daemon.models import registry as models

    cfg = _config(args)
    rows = models.list_models(cfg)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    for r in rows:
        print(r.describe())
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from hushnote.daemon.models import (
        fetch as models_fetch,  # the one module that may use the network, only when asked
    )

    return models_fetch.main(args)


# ----------------------------------------------------------------------------- the service (issue 3)

def cmd_daemon(args: argparse.Namespace) -> int:
    from hushnote.daemon.service import service

    return service.run_foreground(_config(args))


def cmd_control(args: argparse.Namespace) -> int:
    """status / queue / retry / cancel / pause / resume: ask the running daemon over IPC."""
    from hushnote.daemon.cli import control

    return control.main(args, _config(args))


def cmd_record(args: argparse.Namespace) -> int:
    """record start|stop|status: ask the running daemon (it owns the microphone)."""
    from hushnote.daemon.cli import record as record_cli

    return record_cli.main(args, _config(args))


def cmd_devices(args: argparse.Namespace) -> int:
    from hushnote.daemon.cli import record as record_cli

    return record_cli.devices_main(args)


def cmd_tray(args: argparse.Namespace) -> int:
    from hushnote.tray import app

    return app.main(_config(args))


def cmd_service(args: argparse.Namespace) -> int:
    from hushnote.daemon.service import install as service_install

    return service_install.main(args)


# ----------------------------------------------------------------------------- privacy (issue 5)

def _audit_path(args: argparse.Namespace) -> Path:
    from hushnote.daemon.privacy import audit

    return _config(args).path("paths.data") / audit.FILENAME


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import audit

    path = _audit_path(args)
    ok, bad, what = audit.verify(path)
    if ok:
        print(f"The audit log is intact: {what}.")
        print(f"({path})")
        return 0
    print(f"The audit log has been changed: {what}.")
    if bad is not None and bad > 1:
        print(f"Entries 1 to {bad - 1} are intact; entry {bad} and everything after it cannot be trusted.")
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


def cmd_doctor(args: argparse.Namespace) -> int:
    from hushnote.daemon.cli import doctor

    return doctor.main(args, _config(args))


def cmd_consent_text(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import consent

    print(consent.client_text(_config(args)))
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import at_rest

    return at_rest.open_main(_config(args), Path(args.file), Path(args.output) if args.output else None)


# ----------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hushnote", description="Session audio to a draft progress note, on this computer only.")
    p.add_argument("--version", action="version", version=f"hushnote {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="settings file (default: hushnote config path)")
    common.add_argument("--debug", action="store_true", help="show technical details (tracebacks) on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    templates = "soap|dap|birp|girp|pirp|NAME"
    sp = sub.add_parser("process", parents=[common], help="transcribe an audio file and draft a note")
    sp.add_argument("audio", help="the session recording (wav, flac, mp3, m4a, ogg, webm, mp4…)")
    sp.add_argument("--out", metavar="DIR", help="where to write the note and transcript (default: notes folder)")
    sp.add_argument("--template", metavar=templates, help="note template (default from settings: soap)")
    sp.add_argument("--engine", choices=["auto", "extractive", "llm"], help="drafting engine")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--print", action="store_true", help="print the note when done")
    sp.set_defaults(func=cmd_process)

    sp = sub.add_parser("draft", parents=[common], help="draft a note again from an existing transcript")
    sp.add_argument("transcript", help="a .transcript.md written by hushnote, or a plain-text dialogue")
    sp.add_argument("--out", metavar="DIR", help="where to write the note (default: beside the transcript)")
    sp.add_argument("--template", metavar=templates)
    sp.add_argument("--engine", choices=["auto", "extractive", "llm"])
    sp.set_defaults(func=cmd_draft)

    sp = sub.add_parser("config", help="show the settings in use, or where the file is")
    csub = sp.add_subparsers(dest="config_cmd", metavar="show|path", required=True)
    c = csub.add_parser("show", parents=[common], help="print the effective settings")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_config_show)
    c = csub.add_parser("path", parents=[common], help="print where the settings file lives")
    c.set_defaults(func=cmd_config_path)

    sp = sub.add_parser("models", parents=[common], help="list installed models, or fetch a larger one")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_models_list)
    msub = sp.add_subparsers(dest="models_cmd", metavar="list|fetch")
    m = msub.add_parser("list", parents=[common], help="installed models, sizes, checksum state")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models_list)
    m = msub.add_parser("fetch", parents=[common], help="download a model from the curated catalogue (asks first)")
    m.add_argument("name", nargs="?", help="catalogue name; leave out to list the catalogue")
    m.add_argument("--yes", action="store_true", help="accept the licence and download without asking")
    m.add_argument("--no-config", action="store_true", help="do not set the model in the settings file")
    m.set_defaults(func=cmd_models_fetch)

    sp = sub.add_parser("daemon", parents=[common], help="run the background service in the foreground")
    sp.set_defaults(func=cmd_daemon)
    for name, hlp in [("status", "is the service running, what is it doing"), ("queue", "list jobs"),
                      ("pause", "pause processing"), ("resume", "resume processing")]:
        sp = sub.add_parser(name, parents=[common], help=hlp)
        sp.add_argument("--json", action="store_true")
        sp.set_defaults(func=cmd_control)
    for name, hlp in [("retry", "queue a failed job again"), ("cancel", "cancel a queued job"),
                      ("delete", "delete a job's audio now (crypto-shredded; its note stays)")]:
        sp = sub.add_parser(name, parents=[common], help=hlp)
        sp.add_argument("job_id", metavar="ID")
        sp.add_argument("--json", action="store_true")
        sp.set_defaults(func=cmd_control)

    sp = sub.add_parser("record", help="start or stop recording a session (the service records)")
    rsub = sp.add_subparsers(dest="record_cmd", metavar="start|stop|status", required=True)
    r = rsub.add_parser("start", parents=[common], help="start recording (after the client has consented)")
    r.add_argument("--consent-confirmed", action="store_true", help="the client has agreed to be recorded")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_record)
    for name, hlp in [("stop", "stop recording; the note is made from it"), ("status", "is a recording running")]:
        r = rsub.add_parser(name, parents=[common], help=hlp)
        r.add_argument("--json", action="store_true")
        r.set_defaults(func=cmd_record)
    sp = sub.add_parser("devices", parents=[common], help="list the microphones (input devices)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_devices)

    sp = sub.add_parser("tray", parents=[common], help="show the tray icon (start/stop recording, status)")
    sp.set_defaults(func=cmd_tray)

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

    sp = sub.add_parser("doctor", parents=[common], help="check privacy and readiness: network guard, models, "
                        "speed, keyring, service, audit log")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--no-speed", action="store_true", help="skip the transcription speed test")
    sp.set_defaults(func=cmd_doctor)

    sp = sub.add_parser("consent-text", parents=[common], help="print a paragraph to read to a client "
                        "(with your retention setting)")
    sp.set_defaults(func=cmd_consent_text)

    sp = sub.add_parser("service", parents=[common], help="start the service at login (install/uninstall/status)")
    sp.add_argument("action", choices=["install", "uninstall", "status"])
    sp.add_argument("--tray", action="store_true", help="also start the tray icon at login")
    sp.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    sp.set_defaults(func=cmd_service)
    return p


def guard_wanted(explicit_config: str | None) -> bool:
    """``guard.enabled`` read cheaply (``tomllib`` only, before any heavy import or full config load).
    Fails closed: only an explicit ``enabled = false`` in a readable file turns blocking off; a missing,
    unreadable or invalid file keeps the guard on (the full load reports the file's problems later)."""
    import tomllib

    try:
        from hushnote.daemon.core.config import resolve_config_path

        with resolve_config_path(explicit_config).open("rb") as fh:
            section = tomllib.load(fh).get("guard", {})
        return not (isinstance(section, dict) and section.get("enabled") is False)
    except Exception:  # noqa: BLE001 - any problem: keep the guard on
        return True


def _on_block(event: str, reason: str, total: int) -> None:
    """Told of each refused network attempt (no destination: a host name can itself carry data)."""
    log.info("blocked a network attempt (%s: %s); %d blocked so far", event, reason, total)  # service log


def install_guard(args: argparse.Namespace) -> dict[str, object]:
    """The zero-egress guard, first thing in every hushnote process (``hushnote.daemon.privacy.guard``).

    ``guard.enabled = false`` cannot remove it (audit hooks are permanent, by design): it installs the hook
    in record-only mode instead, so connections are counted (``hushnote doctor`` shows them) but not
    refused. ``hushnote models fetch`` opens its one named exception itself (``guard.allow_egress``)."""
    from hushnote.daemon.privacy import guard

    return guard.install(allow_network=not guard_wanted(getattr(args, "config", None)), on_block=_on_block)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    install_guard(args)  # before any command imports anything heavy (models, audio, tray backends)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except HushnoteError as exc:
        if debug:
            raise
        print(f"hushnote: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hushnote: stopped.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: a clinician never sees a traceback
        if debug:
            raise
        print(f"hushnote: something unexpected went wrong ({exc.__class__.__name__}). Nothing was written. "
              "Run the same command again with --debug to see "
              "the technical details.", file=sys.stderr)
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
