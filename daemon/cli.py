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
from typing import TYPE_CHECKING

from daemon import __version__
from daemon.errors import HushnoteError
from daemon.types import Progress, no_progress

if TYPE_CHECKING:
    from daemon.config import Config

# Nothing in the clinical path may reach a model hub: pin offline mode before any library import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger("hushnote")

Handler = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> Config:
    from daemon import config

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
    from daemon import pipeline

    cfg = _config(args)
    src = Path(args.audio)
    out = Path(args.out) if args.out else cfg.path("paths.notes")
    with _progress_bar(not args.quiet) as progress:
        result = pipeline.process(src, cfg, out_dir=out, template=args.template, engine=args.engine,
                                  progress=progress)
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
        print(result.note_path.read_text(encoding="utf-8"))
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    from daemon import notefile, pipeline

    cfg = _config(args)
    src = Path(args.transcript)
    transcript = notefile.read_transcript(src)
    note = pipeline.draft_note(transcript, cfg, template=args.template, engine=args.engine)
    out = Path(args.out) if args.out else src.parent
    stem = src.name.removesuffix(".transcript.md").removesuffix(".txt").removesuffix(".md")
    from daemon.fileio import atomic_write_text, unique_stem

    stem = unique_stem(out, stem, (pipeline.NOTE_SUFFIX,))
    path = out / f"{stem}{pipeline.NOTE_SUFFIX}"
    atomic_write_text(path, notefile.render_note(note, transcript))
    print(f"Note: {path}")
    if note.unverified_count:
        print(f"{note.unverified_count} sentence(s) marked [unverified]: check them before signing.")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from daemon import config

    cfg = _config(args)
    if args.json:
        print(json.dumps(cfg.as_dict(), indent=2))
    else:
        print(config.to_toml(cfg), end="")
    return 0


def cmd_config_path(args: argparse.Namespace) -> int:
    from daemon import config

    path = config.resolve_config_path(getattr(args, "config", None))
    print(path)
    if not path.exists():
        print("(no file there yet: the defaults are in use)", file=sys.stderr)
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from daemon import models

    cfg = _config(args)
    rows = models.list_models(cfg)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    for r in rows:
        print(r.describe())
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from daemon import models_fetch  # the one module that may use the network, only when asked

    return models_fetch.main(args)


# ----------------------------------------------------------------------------- the service (issue 3)

def cmd_daemon(args: argparse.Namespace) -> int:
    from daemon import service

    return service.run_foreground(_config(args))


def cmd_control(args: argparse.Namespace) -> int:
    """status / queue / retry / cancel / pause / resume: ask the running daemon over IPC."""
    from daemon import control

    return control.main(args, _config(args))


def cmd_tray(args: argparse.Namespace) -> int:
    from tray import app

    return app.main(_config(args))


def cmd_service(args: argparse.Namespace) -> int:
    from daemon import service_install

    return service_install.main(args)


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
    for name, hlp in [("retry", "queue a failed job again"), ("cancel", "cancel a queued job")]:
        sp = sub.add_parser(name, parents=[common], help=hlp)
        sp.add_argument("job_id", metavar="ID")
        sp.add_argument("--json", action="store_true")
        sp.set_defaults(func=cmd_control)

    sp = sub.add_parser("tray", parents=[common], help="show the tray icon (start/stop recording, status)")
    sp.set_defaults(func=cmd_tray)

    sp = sub.add_parser("service", parents=[common], help="start the service at login (install/uninstall/status)")
    sp.add_argument("action", choices=["install", "uninstall", "status"])
    sp.add_argument("--tray", action="store_true", help="also start the tray icon at login")
    sp.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    sp.set_defaults(func=cmd_service)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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
