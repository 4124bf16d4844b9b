"""``hushnote service install|uninstall|status [--tray] [--dry-run]``: start hushnote at login.

Renders the template for this platform from ``service-units/`` with the real path of the ``hushnote``
command and writes it where the platform's login machinery looks:

* Linux: a systemd *user* unit ``~/.config/systemd/user/hushnote.service`` (+ ``--tray``: an XDG
  autostart entry ``~/.config/autostart/hushnote-tray.desktop``), under ``$XDG_CONFIG_HOME`` when set;
* macOS: LaunchAgents ``~/Library/LaunchAgents/com.hushnote.daemon.plist`` (+ ``com.hushnote.tray.plist``);
* Windows: Task Scheduler XML in the data folder, to import with the printed ``schtasks`` command.

It never runs systemctl, launchctl or schtasks itself: it prints the one command to run. Files it
writes carry the marker ``hushnote-managed``; it will not overwrite or delete a file without it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from hushnote.daemon.core.errors import HushnoteError
from hushnote.daemon.core.fileio import atomic_write_bytes
from hushnote.daemon.core.paths import SYSTEMD_UNIT, systemd_user_unit, xdg_config_home

MARKER = "hushnote-managed"
TEMPLATES = "hushnote.service_units"  # the folder service-units/, installed as package data
UNIT = SYSTEMD_UNIT


@dataclass(frozen=True)
class Artifact:
    role: str  # "service" | "tray"
    path: Path
    content: bytes
    template: str


def current_platform() -> str:
    return sys.platform


# ----------------------------------------------------------------------------- the command to run

def command_words() -> list[str]:
    """The command that starts this hushnote: its ``hushnote`` script, else ``python -m hushnote.daemon.cli``.

    The script beside this interpreter comes before ``$PATH``'s, so the service runs the same
    installation (venv) that installed it, not whichever ``hushnote`` happens to be first on PATH."""
    names = ("hushnote.exe", "hushnote") if current_platform() == "win32" else ("hushnote",)
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    candidates: list[Path | None] = []
    if argv0 is not None and argv0.name in names:
        candidates.append(argv0)
    scripts = Path(sys.executable).parent
    candidates += [scripts / n for n in names]
    found = shutil.which("hushnote")
    candidates.append(Path(found) if found else None)
    for c in candidates:
        if c is not None and c.is_file() and os.access(c, os.X_OK):
            return [os.path.abspath(c)]
    return [str(Path(sys.executable).absolute()), "-m", "hushnote.daemon.cli"]


_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def systemd_quote(words: list[str]) -> str:
    """Words for ``ExecStart=``: double-quoted when needed; ``%`` escaped (specifiers) everywhere, ``$``
    (variables) in the arguments: systemd does not expand variables in the program path itself."""
    out = []
    for i, w in enumerate(words):
        w = w.replace("%", "%%")
        if i:
            w = w.replace("$", "$$")
        if not _SYSTEMD_PLAIN.fullmatch(w):
            w = '"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(w)
    return " ".join(out)


_DESKTOP_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def desktop_quote(words: list[str]) -> str:
    """Words for a ``.desktop`` ``Exec=`` key (Desktop Entry spec: quoting, then string escapes, ``%%``)."""
    out = []
    for w in words:
        if any(ch in _DESKTOP_RESERVED for ch in w):
            w = '"' + re.sub(r'(["`$\\])', r"\\\1", w) + '"'
        out.append(w.replace("\\", "\\\\").replace("%", "%%"))
    return " ".join(out)


# ----------------------------------------------------------------------------- rendering

def _template(name: str) -> str:
    try:
        return resources.files(TEMPLATES).joinpath(name).read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError):
        raise HushnoteError(f"The service template {name} is missing from this installation.",
                            "Reinstall hushnote from its source folder.") from None


def _fill(text: str, **values: str) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def render_systemd(words: list[str]) -> str:
    return _fill(_template(UNIT), exe=systemd_quote(words))


def render_desktop(words: list[str]) -> str:
    return _fill(_template("hushnote-tray.desktop"), exe=desktop_quote(words))


def render_plist(name: str, words: list[str], home: Path) -> str:
    args = "\n".join(f"\t\t<string>{xml_escape(w)}</string>" for w in words)
    return _fill(_template(name), program_arguments=args, home=xml_escape(str(home)),
                 log_dir=xml_escape(str(home / "Library" / "Logs" / "hushnote")))


def render_task(name: str, words: list[str], home: Path, user: str) -> str:
    arguments = subprocess.list2cmdline(words[1:])
    return _fill(_template(name), command=xml_escape(words[0]), arguments=xml_escape(arguments + " " if arguments else ""),
                 home=xml_escape(str(home)), user=xml_escape(user))


def _windows_user() -> str:
    domain = os.environ.get("USERDOMAIN")
    user = os.environ.get("USERNAME") or getpass.getuser()
    return f"{domain}\\{user}" if domain else user


def _windows_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("hushnote")) / "service"


def plan(platform: str, *, tray: bool, words: list[str] | None = None, home: Path | None = None) -> list[Artifact]:
    """What ``install`` writes on ``platform`` (the service, and the tray entry when ``tray``)."""
    words = words or command_words()
    home = home or Path.home()
    out: list[Artifact] = []
    if platform.startswith("linux"):
        out.append(Artifact("service", systemd_user_unit(home), render_systemd(words).encode(), UNIT))
        if tray:
            out.append(Artifact("tray", xdg_config_home(home) / "autostart" / "hushnote-tray.desktop",
                                render_desktop(words).encode(), "hushnote-tray.desktop"))
    elif platform == "darwin":
        agents = home / "Library" / "LaunchAgents"
        for role, name in (("service", "com.hushnote.daemon.plist"), ("tray", "com.hushnote.tray.plist")):
            if role == "service" or tray:
                out.append(Artifact(role, agents / name, render_plist(name, words, home).encode(), name))
    elif platform == "win32":
        folder = _windows_dir()
        for role, name in (("service", "hushnote-task.xml"), ("tray", "hushnote-tray-task.xml")):
            if role == "service" or tray:
                text = render_task(name, words, home, _windows_user())
                # schtasks reads UTF-16 most reliably: declare it and write it (with a BOM)
                text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
                out.append(Artifact(role, folder / name, text.encode("utf-16"), name))
    else:
        raise HushnoteError(f"Starting at login is not supported on this system ({platform}).",
                            "Run `hushnote daemon` from your own startup script instead.")
    return out


def _all_artifacts(platform: str) -> list[Artifact]:
    return plan(platform, tray=True)


# ----------------------------------------------------------------------------- files

def _is_ours(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return MARKER.encode() in data or MARKER.encode("utf-16-le") in data


def _wants_link(unit: Path) -> Path:
    return unit.parent / "default.target.wants" / UNIT


# ----------------------------------------------------------------------------- commands

def main(args: argparse.Namespace) -> int:
    platform = current_platform()
    action = args.action
    dry = bool(getattr(args, "dry_run", False))
    if action == "install":
        return install(platform, tray=bool(getattr(args, "tray", False)), dry_run=dry)
    if action == "uninstall":
        return uninstall(platform, dry_run=dry)
    if action == "status":
        return status(platform)
    raise HushnoteError(f"Unknown service action {action!r}.")


def install(platform: str, *, tray: bool, dry_run: bool) -> int:
    artifacts = plan(platform, tray=tray)
    for a in artifacts:
        if a.path.exists() and not _is_ours(a.path):
            raise HushnoteError(f"{a.path} already exists and was not written by hushnote; not overwriting it.",
                                "Move it away (or remove it) and run this again.")
    if dry_run:
        for a in artifacts:
            print(f"Would write {a.path}:")
            print(_as_text(a.content).rstrip("\n"))
            print()
        print("(dry run: nothing was written)")
        return 0
    for a in artifacts:
        existed = a.path.exists()
        atomic_write_bytes(a.path, a.content, 0o644)  # a unit file others (systemd) read
        print(f"{'Updated' if existed else 'Wrote'} {a.path}")
    if platform == "darwin":
        (Path.home() / "Library" / "Logs" / "hushnote").mkdir(parents=True, exist_ok=True)
    print()
    print(_next_steps_install(platform, artifacts))
    return 0


def uninstall(platform: str, *, dry_run: bool) -> int:
    found = [a for a in _all_artifacts(platform) if a.path.exists()]
    removable = [a for a in found if _is_ours(a.path)]
    for a in found:
        if a not in removable:
            print(f"Leaving {a.path}: it was not written by hushnote.", file=sys.stderr)
    links = []
    for a in removable:
        link = _wants_link(a.path)
        if a.role == "service" and platform.startswith("linux") and link.is_symlink() \
                and Path(os.path.realpath(link)) == Path(os.path.realpath(a.path)):
            links.append(link)
    if not removable:
        print("hushnote is not set up to start at login: nothing to remove.")
        return 0
    for p in [*links, *(a.path for a in removable)]:
        if dry_run:
            print(f"Would remove {p}")
        else:
            p.unlink()
            print(f"Removed {p}")
    if dry_run:
        print("(dry run: nothing was removed)")
        return 0
    print()
    print(_next_steps_uninstall(platform, removable))
    return 0


def status(platform: str) -> int:
    for a in _all_artifacts(platform):
        label = "service" if a.role == "service" else "tray at login"
        if not a.path.exists():
            print(f"{label}: not installed (would be {a.path})")
            continue
        state = "installed" if _is_ours(a.path) else "a file not written by hushnote is there"
        print(f"{label}: {state}: {a.path}")
        if _is_ours(a.path) and a.path.read_bytes() != a.content:
            print("    it differs from what `hushnote service install` would write now "
                  "(hushnote moved or was updated?): run the install again.")
        if a.role == "service" and platform.startswith("linux"):
            enabled = _wants_link(a.path).is_symlink()
            print(f"    enabled: {'yes' if enabled else 'no (systemctl --user enable --now hushnote.service)'}")
    if platform == "win32":
        print("(whether Task Scheduler has imported the task: schtasks /Query /TN hushnote)")
    return 0


def _as_text(data: bytes) -> str:
    return data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8")


def _next_steps_install(platform: str, artifacts: list[Artifact]) -> str:
    tray = any(a.role == "tray" for a in artifacts)
    if platform.startswith("linux"):
        lines = ["To start it now and at every login, run:",
                 "    systemctl --user daemon-reload",
                 f"    systemctl --user enable --now {UNIT}",
                 f"Its log: journalctl --user -u {UNIT}"]
        if tray:
            lines.append("The tray icon starts at your next login (or run `hushnote tray` now).")
        return "\n".join(lines)
    if platform == "darwin":
        lines = ["It starts at your next login. To start it now, run:"]
        lines += [f"    launchctl bootstrap gui/$(id -u) '{a.path}'" for a in artifacts]
        lines.append(f"Its log: {Path.home() / 'Library' / 'Logs' / 'hushnote'}")
        return "\n".join(lines)
    lines = ["To register it with Task Scheduler (starts at every logon), run in a Command Prompt:"]
    for a in artifacts:
        lines.append(f'    schtasks /Create /XML "{a.path}" /TN {_task_name(a)}')
    lines.append("To start it now: schtasks /Run /TN hushnote")
    return "\n".join(lines)


def _next_steps_uninstall(platform: str, removed: list[Artifact]) -> str:
    if platform.startswith("linux"):
        lines = []
        if any(a.role == "service" for a in removed):
            lines += ["If it is running, stop it and let systemd forget it:",
                      f"    systemctl --user stop {UNIT}",
                      "    systemctl --user daemon-reload"]
        if any(a.role == "tray" for a in removed):
            lines.append("The tray icon will no longer start at login.")
        return "\n".join(lines)
    if platform == "darwin":
        labels = {"service": "com.hushnote.daemon", "tray": "com.hushnote.tray"}
        return "\n".join(["If it is running, stop it with:",
                          *(f"    launchctl bootout gui/$(id -u)/{labels[a.role]}" for a in removed)])
    return "\n".join(["Remove the scheduled task(s) too, in a Command Prompt:",
                      *(f"    schtasks /Delete /TN {_task_name(a)} /F" for a in removed)])


def _task_name(a: Artifact) -> str:
    return "hushnote" if a.role == "service" else "hushnote-tray"
