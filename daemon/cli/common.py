"""What the command groups share: the settings in use, a progress bar, the parser type."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias

from hushnote.daemon.core.datatypes import Progress, no_progress

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def load_config(args: argparse.Namespace) -> Config:
    from hushnote.daemon.core import config

    return config.load(getattr(args, "config", None))


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress]:
    """A progress bar with percentage and ETA on stderr (plain lines when stderr is not a terminal)."""
    if not enabled:
        yield no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    console = Console(stderr=True)
    labels = {"decode": "Reading audio", "transcribe": "Transcribing", "speakers": "Who spoke", "draft": "Drafting note", "write": "Writing"}
    with RichProgress(TextColumn("{task.description:<14}"), BarColumn(), TaskProgressColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, fraction: float, detail: str = "") -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=1000)
            bar.update(tasks[stage], completed=int(max(0.0, min(1.0, fraction)) * 1000))

        yield update


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """PortAudio and ALSA report their probing of every sound card on stderr: noise for a clinician."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
