"""``hushnote speakers status|swap``: who-said-it settings, and swapping the roles in a note's transcript."""
from __future__ import annotations

import argparse
from pathlib import Path

from hushnote.daemon.cli.common import Subparsers, load_config


def cmd_status(args: argparse.Namespace) -> int:
    from hushnote.daemon.speakers import voiceprint_store

    cfg = load_config(args)
    labels = [str(x) for x in cfg["speakers.labels"]]
    count = int(cfg["speakers.count"])
    if not cfg["speakers.enabled"] or count < 2:
        why = "speakers.enabled = false" if not cfg["speakers.enabled"] else "speakers.count = 1"
        print(f"Speaker labels: off ({why}).")
        return 0
    print(f"Speaker labels: on, telling {count} people apart.")
    print(f"Role names:     {labels[0]} (the therapist), {labels[1]} (the client)")
    enrolled = voiceprint_store.status(cfg.path("paths.data")) is not None  # no key needed to tell
    print("Enrolled voice: " + ("yes: the therapist is recognised by voice" if enrolled else
                                "none: with one microphone, lines say Speaker 1 / Speaker 2"))
    two = "on" if cfg["recording.system_audio"] else "off"
    print(f"Two channels:   recording.system_audio = {two}; a two-channel file (left {labels[0]}, right "
          f"{labels[1]}) is labelled by channel when its channels carry different voices")
    return 0


def cmd_swap(args: argparse.Namespace) -> int:
    from hushnote.daemon.notes import swap
    from hushnote.daemon.privacy.vault import is_encrypted

    cfg = load_config(args)
    note = Path(args.note)
    vault = None
    if note.is_file() and is_encrypted(note):
        from hushnote.daemon.privacy import at_rest

        vault = at_rest.open_vault(cfg)
    done = swap.swap_note(note, cfg, vault)
    print(f"Speakers:   {done.speakers}")
    print(f"Transcript: {done.transcript_path}")
    if done.replaced:
        print(f"Note:       {done.note_path} (drafted again)")
    else:
        print(f"Note:       {done.note_path} (a new draft: {note.name} is signed and was left as it is)")
    return 0


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    sp = sub.add_parser("speakers", help="who said it: the settings, or swap the roles in a note")
    ssub = sp.add_subparsers(dest="speakers_cmd", metavar="status|swap", required=True)
    s = ssub.add_parser("status", parents=[common], help="show the speaker-label settings")
    s.set_defaults(func=cmd_status)
    s = ssub.add_parser("swap", parents=[common],
                        help="swap the two roles in a note's transcript and draft the note again "
                             "(a signed note is left as it is: a new draft is written beside it)")
    s.add_argument("note", help="the .note.md file (its .transcript.md must be beside it)")
    s.set_defaults(func=cmd_swap)
