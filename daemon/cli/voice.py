"""``hushnote voice enroll|status|forget``: the therapist's voice, so transcript lines can say who spoke.

The voiceprint (192 numbers, biometric data) is kept encrypted in the vault
(``hushnote.daemon.speakers.voiceprint_store``); nothing here prints it or logs a file name.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hushnote.daemon.cli.common import Subparsers, load_config, quiet_stderr

if TYPE_CHECKING:
    import numpy as np
    from hushnote.daemon.core.config import Config

SAMPLE_SECONDS = 25
NO_MIC_HINT = "Or record yourself with any recorder and run: hushnote voice enroll --from FILE"


def _from_file(path: Path) -> np.ndarray:
    from hushnote.daemon.core.errors import InputError
    from hushnote.daemon.speech.audio import decode_all

    if not path.is_file():
        raise InputError(f"The voice sample {path} does not exist.", "Check the file name and try again.",
                         path=str(path))
    return decode_all(path)


def _countdown(out: TextIO) -> Callable[[int], None]:
    def tell(left: int) -> None:
        print(f"\rRecording your voice: {left:2d} s left ", end="\n" if left == 0 else "", file=out, flush=True)

    return tell


def _from_microphone(cfg: Config) -> np.ndarray:
    from hushnote.daemon.recording.clip import record_clip
    from hushnote.daemon.recording.devices import RecorderError

    print(f"Speak normally for {SAMPLE_SECONDS} seconds (read something aloud, or describe your day); "
          "only your voice, please.", file=sys.stderr)
    sys.stderr.flush()
    try:  # the countdown goes to the real stderr; PortAudio's probing of sound cards goes nowhere
        with os.fdopen(os.dup(2), "w") as out, quiet_stderr():
            return record_clip(cfg, SAMPLE_SECONDS, on_second=_countdown(out))
    except RecorderError as exc:
        hint = exc.hint if "--from" in exc.hint else f"{exc.hint} {NO_MIC_HINT}".strip()
        raise RecorderError(exc.message, hint) from None


def _voiceprint(audio: np.ndarray, what: str) -> np.ndarray:
    from hushnote.daemon.core.errors import InputError
    from hushnote.daemon.speakers import Embedder, speech_regions, voiceprint

    try:
        return voiceprint(audio, speech_regions(audio), Embedder())
    except InputError as exc:  # too little speech, or two voices: say which sample, nothing is stored
        raise InputError(f"{exc.message} ({what}; nothing was stored)", exc.hint, path=exc.path) from None


def _audit_sink(cfg: Config) -> Any:
    from hushnote.daemon.privacy.audit import AuditLog

    log = AuditLog.in_data_dir(cfg.path("paths.data"))
    return lambda event, data: log.append(event, **data)


def cmd_enroll(args: argparse.Namespace) -> int:
    from hushnote.daemon.privacy import at_rest
    from hushnote.daemon.speakers import voiceprint_store

    cfg = load_config(args)
    if args.source:
        path = Path(args.source)
        vp = _voiceprint(_from_file(path), f"from {path.name}")
        source = "file"
    else:
        vp = _voiceprint(_from_microphone(cfg), "from the microphone")
        source = "microphone"
    vault = at_rest.open_vault(cfg, on_event=_audit_sink(cfg))
    replaced = voiceprint_store.status(cfg.path("paths.data")) is not None
    voiceprint_store.save(vault, cfg.path("paths.data"), vp, source=source)
    print(("Your voice is enrolled again (the earlier one was destroyed)." if replaced else
           "Your voice is enrolled.") + " It is stored encrypted; in sessions recorded with one microphone, "
          "the voice that matches it is labelled as you.")
    print("`hushnote voice forget` deletes it for good.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from hushnote.daemon.speakers import voiceprint_store

    cfg = load_config(args)
    found = voiceprint_store.status(cfg.path("paths.data"))
    if found is None:
        print("No voice is enrolled. `hushnote voice enroll` records 25 seconds of your voice "
              "(or `--from FILE` uses a recording).")
        return 0
    when = found.enrolled_at.astimezone().strftime("%Y-%m-%d %H:%M")
    print(f"A voice is enrolled (since {when}), stored encrypted in hushnote's vault.")
    print("`hushnote voice forget` deletes it for good.")
    return 0


def _confirmed(yes: bool) -> bool:
    if yes:
        return True
    from hushnote.daemon.core.errors import InputError

    if not sys.stdin.isatty():
        raise InputError("`hushnote voice forget` needs a confirmation and there is no terminal to ask.",
                         "Run it again with --yes.")
    answer = input("Delete the enrolled voice for good? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_forget(args: argparse.Namespace) -> int:
    from hushnote.daemon.speakers import voiceprint_store

    cfg = load_config(args)
    data_dir = cfg.path("paths.data")
    if not voiceprint_store.voice_path(data_dir).exists():
        print("No voice is enrolled; there is nothing to forget.")
        return 0
    if not _confirmed(bool(args.yes)):
        print("Nothing was deleted.")
        return 1
    voiceprint_store.forget(None, data_dir)  # crypto-shredding needs no master key
    print("The enrolled voice is deleted: its key was destroyed, then the file. Lines will say "
          "Speaker 1 / Speaker 2 unless the recording has two channels.")
    return 0


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    sp = sub.add_parser("voice", help="enrol your voice so transcripts say which lines are yours")
    vsub = sp.add_subparsers(dest="voice_cmd", metavar="enroll|status|forget", required=True)
    v = vsub.add_parser("enroll", parents=[common],
                        help=f"record {SAMPLE_SECONDS} s of your voice (or use a file) and store it encrypted")
    v.add_argument("--from", dest="source", metavar="FILE",
                   help="a recording of only you speaking, 20-30 s (any audio format)")
    v.set_defaults(func=cmd_enroll)
    v = vsub.add_parser("status", parents=[common], help="say whether a voice is enrolled")
    v.set_defaults(func=cmd_status)
    v = vsub.add_parser("forget", parents=[common], help="delete the enrolled voice for good (crypto-shred)")
    v.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    v.set_defaults(func=cmd_forget)
