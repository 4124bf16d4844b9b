"""Commands for the background service: ``daemon``, ``status``/``queue``/``pause``/``resume``/``retry``/
``cancel``/``delete`` (asked over IPC), ``tray``, and ``service install|uninstall|status`` (start at login)."""
from __future__ import annotations

import argparse

from hushnote.daemon.cli.common import Subparsers, load_config


def cmd_daemon(args: argparse.Namespace) -> int:
    from hushnote.daemon.service import service

    return service.run_foreground(load_config(args))


def cmd_control(args: argparse.Namespace) -> int:
    """status / queue / retry / cancel / pause / resume: ask the running daemon over IPC."""
    from hushnote.daemon.cli import control

    return control.main(args, load_config(args))


def cmd_tray(args: argparse.Namespace) -> int:
    from hushnote.tray import app

    return app.main(load_config(args))


def cmd_service(args: argparse.Namespace) -> int:
    from hushnote.daemon.service import install as service_install

    return service_install.main(args)


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
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
    sp = sub.add_parser("tray", parents=[common], help="show the tray icon (start/stop recording, status)")
    sp.set_defaults(func=cmd_tray)
    sp = sub.add_parser("service", parents=[common], help="start the service at login (install/uninstall/status)")
    sp.add_argument("action", choices=["install", "uninstall", "status"])
    sp.add_argument("--tray", action="store_true", help="also start the tray icon at login")
    sp.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    sp.set_defaults(func=cmd_service)
