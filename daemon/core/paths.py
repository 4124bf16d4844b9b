"""What hushnote's files are called and where the login machinery looks for them: one place for each.

* A job's outputs in the notes folder: ``<stem>.note.md``, ``<stem>.transcript.md``, and for a job that
  failed ``<stem>.error.txt``.
* The systemd user unit (Linux): ``$XDG_CONFIG_HOME/systemd/user/hushnote.service`` (``~/.config`` when
  ``XDG_CONFIG_HOME`` is unset or relative, as the XDG spec says), written by ``hushnote service install``
  and looked for by the tray before it starts the service.
"""

from __future__ import annotations

import os
from pathlib import Path

NOTE_SUFFIX = ".note.md"
TRANSCRIPT_SUFFIX = ".transcript.md"
ERROR_SUFFIX = ".error.txt"
OUTPUT_SUFFIXES = (NOTE_SUFFIX, TRANSCRIPT_SUFFIX, ERROR_SUFFIX)

SYSTEMD_UNIT = "hushnote.service"


def xdg_config_home(home: Path | None = None) -> Path:
    """``$XDG_CONFIG_HOME`` if it is an absolute path, else ``<home>/.config``."""
    env = os.environ.get("XDG_CONFIG_HOME")
    if env and Path(env).is_absolute():
        return Path(env)
    return (home if home is not None else Path.home()) / ".config"


def systemd_user_unit(home: Path | None = None) -> Path:
    """Where ``hushnote service install`` puts the systemd user unit."""
    return xdg_config_home(home) / "systemd" / "user" / SYSTEMD_UNIT
