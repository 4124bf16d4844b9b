"""The ``hushnote`` command: argument parsing, exit codes and plain-English errors. No logic lives here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from hushnote.daemon import __version__
from hushnote.daemon.core.errors import HushnoteError

if TYPE_CHECKING:
    pass

# Nothing in the clinical path may reach a model hub: pin offline mode before any library import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger("hushnote")

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    """The ``hushnote`` parser: each command group (a module of this package) adds its own commands."""
    from hushnote.daemon.cli import (
        doctor,
        notes,
        privacy,
        record,
        service,
        settings,
        signoff,
        speakers,
        voice,
    )

    p = argparse.ArgumentParser(prog="hushnote", description="Session audio to a draft progress note, on this computer only.")
    p.add_argument("--version", action="version", version=f"hushnote {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="settings file (default: hushnote config path)")
    common.add_argument("--debug", action="store_true", help="show technical details (tracebacks) on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in (notes, signoff, speakers, settings, service, record, privacy, voice, doctor):
        group.register(sub, common)
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
        code = int(args.func(args))
        sys.stdout.flush()  # here, not at exit: a reader that left (`| head`) is handled below
        return code
    except HushnoteError as exc:
        if debug:
            raise
        print(f"hushnote: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hushnote: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_left()
    except Exception as exc:  # noqa: BLE001 - last resort: a clinician never sees a traceback
        if debug:
            raise
        print(f"hushnote: something unexpected went wrong ({exc.__class__.__name__}). Nothing was written. "
              "Run the same command again with --debug to see "
              "the technical details.", file=sys.stderr)
        return 70


def _reader_left() -> int:
    """The output went into a pipe whose reader stopped reading (``hushnote queue | head``): not an error.
    What is still buffered is dropped (stdout now points at the null device, so the flush at exit cannot
    fail a second time)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # no real stdout (an embedding): nothing to redirect
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
