"""The desktop clipboard, through the platform's own tool: ``wl-copy`` (Wayland), ``xclip`` or ``xsel`` (X11),
``pbcopy`` (macOS), ``clip`` (Windows). No extra library; nothing is logged (the text is a patient's note).
"""

from __future__ import annotations

import os
import shutil
import subprocess  # noqa: S404 - fixed argument lists, no shell
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from hushnote.daemon.core.errors import HushnoteError

TIMEOUT_S = 10.0


class ClipboardUnavailable(HushnoteError):
    """No clipboard can be reached from here."""


@dataclass(frozen=True)
class Tool:
    argv: tuple[str, ...]
    encoding: str = "utf-8"

    @property
    def name(self) -> str:
        return self.argv[0]


def find_tool(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> Tool:
    """The clipboard tool for this desktop, or ``ClipboardUnavailable`` saying what to install."""
    env = os.environ if env is None else env
    path = env.get("PATH")
    if platform == "darwin" and shutil.which("pbcopy", path=path):
        return Tool(("pbcopy",))
    if platform.startswith("win") and shutil.which("clip", path=path):
        return Tool(("clip",), "utf-16")
    candidates: list[Tool] = []
    if env.get("WAYLAND_DISPLAY"):
        candidates.append(Tool(("wl-copy", "--type", "text/plain;charset=utf-8")))
    if env.get("DISPLAY"):
        candidates += [Tool(("xclip", "-selection", "clipboard", "-in")), Tool(("xsel", "--clipboard", "--input"))]
    for tool in candidates:
        found = shutil.which(tool.name, path=path)
        if found:
            return Tool((found, *tool.argv[1:]), tool.encoding)
    if not env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY") and not platform.startswith(("win", "darwin")):
        raise ClipboardUnavailable("There is no desktop session here to copy to (neither WAYLAND_DISPLAY nor "
                                   "DISPLAY is set).",
                                   "Run this in a terminal of your desktop, or write a file with "
                                   "`hushnote export NOTE --format txt`.")
    raise ClipboardUnavailable("No clipboard tool was found: hushnote uses wl-copy (Wayland), xclip or xsel (X11), "
                               "pbcopy (macOS) or clip (Windows).",
                               "Install one (e.g. `sudo apt install wl-clipboard xclip`), or write a file with "
                               "`hushnote export NOTE --format txt`.")


def copy(text: str, env: Mapping[str, str] | None = None, platform: str = sys.platform) -> str:
    """Put ``text`` on the clipboard; returns the tool's name. xclip/xsel stay in the background to serve
    the clipboard (that is how X11 works), so their output goes to a file, never to a pipe we wait on."""
    tool = find_tool(env, platform)
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(tool.argv, input=text.encode(tool.encoding), stdout=subprocess.DEVNULL,  # noqa: S603
                                  stderr=err, timeout=TIMEOUT_S, check=False,
                                  env=dict(env) if env is not None else None)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClipboardUnavailable(f"The clipboard tool {os.path.basename(tool.name)} did not work "
                                       f"({type(exc).__name__}).",
                                       "Check that your desktop session is running, or use `hushnote export`.") from None
        if proc.returncode != 0:
            err.seek(0)
            detail = err.read(300).decode("utf-8", "replace").strip().splitlines()
            raise ClipboardUnavailable(f"The clipboard tool {os.path.basename(tool.name)} failed"
                                       f"{': ' + detail[0] if detail else ''}.",
                                       "Check that your desktop session is running, or use `hushnote export`.")
    return os.path.basename(tool.name)
