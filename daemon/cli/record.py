"""``hushnote record start|stop|status`` (ask the running service over IPC) and ``hushnote devices``.

Plain sentences for a clinician; ``--json`` prints the raw result. Exit codes as ``hushnote.daemon.cli.control``:
0 done, 1 the service refused (e.g. no consent, already recording, nothing to stop), 3 the service is
not running / did not answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hushnote.daemon.cli.common import Subparsers, load_config, quiet_stderr
from hushnote.daemon.core.config import Config
from hushnote.tray.state import format_elapsed

if TYPE_CHECKING:
    from hushnote.daemon.recording.system_audio import MonitorInfo

CONSENT_NEEDED = ("Recording needs the client's consent. Ask the client first; once they have agreed, run "
                  "`hushnote record start --consent-confirmed`.")


def main(args: argparse.Namespace, cfg: Config) -> int:
    from hushnote.daemon.cli.control import ask
    from hushnote.ipc.client import IpcClient
    from hushnote.ipc.paths import endpoint

    action = str(args.record_cmd)
    client = IpcClient(endpoint(cfg), timeout=20.0)  # start waits until the microphone delivers audio
    if action == "start":
        confirmed = bool(args.consent_confirmed)
        if not confirmed:
            st = ask(client, "record.status")
            if isinstance(st, int):
                return st
            if st.get("require_consent", True):
                print(CONSENT_NEEDED, file=sys.stderr)
                return 1
        result = ask(client, "record.start", consent_confirmed=confirmed, source="cli")
    else:
        result = ask(client, "record.stop" if action == "stop" else "record.status")
    if isinstance(result, int):
        return result
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_record(action, result))
    return 0


def format_record(action: str, r: Mapping[str, Any]) -> str:
    device = f" from {r['device']}" if r.get("device") else ""
    if action == "start":
        text = f"Recording{device}. Stop it with `hushnote record stop` (or from the tray)."
        if r.get("paused"):
            text += (" Processing is paused: the note will be made after you run `hushnote resume`.")
        return text
    if action == "stop":
        return ("Recording stopped. It is being saved and queued; the draft note will appear in your notes "
                "folder (see `hushnote status`).")
    if r.get("recording"):
        return f"Recording for {format_elapsed(r.get('elapsed_s'))}{device}."
    if r.get("state") == "finalising":
        return "The recording is being saved."
    return "Not recording."


def devices_main(args: argparse.Namespace) -> int:
    """``hushnote devices``: the microphones this computer offers (the default marked with *), then the outputs
    whose sound ``system_audio`` can record ("Computer audio (for calls)")."""
    from hushnote.daemon.recording.devices import list_devices

    with quiet_stderr():
        devs = list_devices()
    monitors = _monitors()
    if args.json:
        if args.computer_audio:  # the outputs only (a list, like the microphones')
            print(json.dumps([m.as_dict() for m in monitors] if isinstance(monitors, list) else [], indent=2))
        else:
            print(json.dumps([d.as_dict() for d in devs], indent=2))
        return 0
    if not devs:
        print("No microphone found. Connect one (or check the sound settings) and try again.")
        return 1
    print("    #  NAME")
    for d in devs:
        print(d.describe())
    print("\n* = the system default. Choose another with `device = NUMBER or part of the name` under [recording] "
          "in the settings file.")
    _print_monitors(monitors)
    return 0


def _print_monitors(monitors: list[MonitorInfo] | str) -> None:
    """The section "Computer audio (for calls)": outputs whose sound ``system_audio`` can record."""
    print("\nComputer audio (for calls)")
    if isinstance(monitors, str):
        print(f"  {monitors}")
        return
    if not monitors:
        print("  None found (recording the computer's audio works on Linux with PulseAudio or PipeWire).")
        return
    for m in monitors:
        print(f"  {m.describe()}")
    print("\nTo record a call's sound as well (left = microphone, right = computer audio), set "
          "`system_audio = true` under [recording]; `system_audio_device = \"part of the name\"` picks another "
          "output than the default (*).")


def _monitors() -> list[MonitorInfo] | str:
    from hushnote.daemon.core.errors import HushnoteError
    from hushnote.daemon.recording.system_audio import list_monitors

    try:
        return list_monitors()
    except HushnoteError as exc:
        return str(exc)


def cmd_record(args: argparse.Namespace) -> int:
    """record start|stop|status: ask the running daemon (it owns the microphone)."""
    return main(args, load_config(args))


def cmd_devices(args: argparse.Namespace) -> int:
    return devices_main(args)


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
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
    sp = sub.add_parser("devices", parents=[common],
                        help="list the microphones, and the computer's audio outputs (for calls)")
    sp.add_argument("--json", action="store_true", help="the microphones as JSON")
    sp.add_argument("--computer-audio", action="store_true",
                    help="with --json: the computer's audio outputs (system_audio_device) instead")
    sp.set_defaults(func=cmd_devices)
