"""``hushnote process`` and ``hushnote draft``: a session recording or transcript to a draft note."""
from __future__ import annotations

import argparse
from pathlib import Path

from hushnote.daemon.cli.common import Subparsers, load_config, progress_bar


def cmd_process(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import pipeline

    cfg = load_config(args)
    src = Path(args.audio)
    out = Path(args.out) if args.out else cfg.path("paths.notes")
    vault = None
    if cfg["notes.encrypt"]:  # the note and transcript are written encrypted (read with `hushnote open`)
        from hushnote.daemon.privacy import at_rest

        vault = at_rest.open_vault(cfg)
    exports = args.export.split(",") if args.export is not None else pipeline.configured_exports(cfg)
    with progress_bar(not args.quiet) as progress:
        result = pipeline.process(src, cfg, out_dir=out, template=args.template, engine=args.engine,
                                  progress=progress, vault=vault,
                                  voiceprint=pipeline.enrolled_voiceprint(cfg, vault), exports=exports)
    note = result.note
    print(f"Transcript: {result.transcript_path}")
    print(f"Note:       {result.note_path}")
    for path in result.exports:
        print(f"Export:     {path}" + ("  (not encrypted)" if vault is not None else ""))
    if result.transcript.speakers_line:
        print(f"Speakers:   {result.transcript.speakers_line}")
    summary = f"Drafted with the {note.engine} engine, {note.template.upper()} template."
    if note.unverified_count:
        summary += f" {note.unverified_count} sentence(s) marked [unverified]: check them before signing."
    if note.risk:
        summary += f" {len(note.risk)} risk statement(s) quoted under 'For clinician review'."
    print(summary)
    warning = pipeline.ended_early_warning(result.transcript)
    if warning:
        print(f"Warning: {warning.split(': ', 1)[1]}. Check the original recording.")
    if args.print:
        print()
        from hushnote.daemon.privacy.at_rest import read_text

        print(read_text(result.note_path, vault))
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    from hushnote.daemon.core.paths import TRANSCRIPT_SUFFIX
    from hushnote.daemon.notes import notefile, pipeline

    cfg = load_config(args)
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
    stem = src.name.removesuffix(TRANSCRIPT_SUFFIX).removesuffix(".txt").removesuffix(".md")
    path = pipeline.write_note(note, transcript, out, stem, vault=vault)
    print(f"Note: {path}")
    if note.unverified_count:
        print(f"{note.unverified_count} sentence(s) marked [unverified]: check them before signing.")
    return 0


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    templates = "soap|dap|birp|girp|pirp|NAME"
    sp = sub.add_parser("process", parents=[common], help="transcribe an audio file and draft a note")
    sp.add_argument("audio", help="the session recording (wav, flac, mp3, m4a, ogg, webm, mp4…)")
    sp.add_argument("--out", metavar="DIR", help="where to write the note and transcript (default: notes folder)")
    sp.add_argument("--template", metavar=templates, help="note template (default from settings: soap)")
    sp.add_argument("--engine", choices=["auto", "extractive", "llm"], help="drafting engine")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--print", action="store_true", help="print the note when done")
    sp.add_argument("--export", metavar="srt,vtt,json",
                    help="also write the transcript as <stem>.transcript.srt/.vtt/.json beside the note "
                         "(default from settings: notes.export)")
    sp.set_defaults(func=cmd_process)

    sp = sub.add_parser("draft", parents=[common], help="draft a note again from an existing transcript")
    sp.add_argument("transcript", help="a .transcript.md written by hushnote, or a plain-text dialogue")
    sp.add_argument("--out", metavar="DIR", help="where to write the note (default: beside the transcript)")
    sp.add_argument("--template", metavar=templates)
    sp.add_argument("--engine", choices=["auto", "extractive", "llm"])
    sp.set_defaults(func=cmd_draft)
