"""What the tray shows, as a pure function of what it knows. No I/O, no clock, no pystray.

The app feeds a ``TrayModel`` with what the service said (``with_status``, ``with_record_status``,
``with_event``, ``disconnected``) and asks ``view(model, now)`` for a ``TrayView``: the icon to draw,
the tooltip/title and every menu entry with its label and whether it is enabled. Events can also ask for a
desktop notification (``Notice``). ``now`` is ``time.monotonic()`` seconds, used only to extrapolate the
recording's elapsed time between service updates.

Wording rules: plain English for a clinician; never a file name, client name or transcript text (a
notification may be seen by someone else in the room); the daemon's own ``message`` strings are already
written for the clinician and are shown as they are.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

APP_NAME = "hushnote"


class IconState(enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"
    PROCESSING = "processing"
    PAUSED = "paused"
    ATTENTION = "attention"


class Action(enum.Enum):
    """What a menu entry does; the app maps each to a handler."""

    RECORD = "record"  # start or stop, by the model's recording state (the menu item: consent confirmed)
    CLICK = "click"  # the icon itself was clicked: stop; start only if the service does not require consent
    STATUS = "status"  # the informational line; does nothing
    PRIVACY = "privacy"  # the network guard's line (offline, attempts refused); does nothing
    DISMISS = "dismiss"  # clear the warning shown in the status line
    OPEN_NOTES = "open_notes"
    OPEN_INBOX = "open_inbox"
    PAUSE = "pause"  # pause or resume processing
    START_SERVICE = "start_service"
    QUIT = "quit"


@dataclass(frozen=True)
class MenuEntry:
    action: Action
    label: str
    enabled: bool = True
    checked: bool | None = None  # None: not a check item
    default: bool = False  # the left-click action where the backend has one
    visible: bool = True
    separator_before: bool = False


@dataclass(frozen=True)
class TrayView:
    icon: IconState
    title: str
    menu: tuple[MenuEntry, ...]
    fraction: float | None = None  # the current job's progress, drawn as an arc when processing

    def entry(self, action: Action) -> MenuEntry:
        for e in self.menu:
            if e.action is action:
                return e
        raise KeyError(action)


@dataclass(frozen=True)
class Notice:
    """A desktop notification to show once."""

    title: str
    message: str


STAGES = {"decode": "reading audio", "transcribe": "transcribing", "draft": "drafting the note",
          "write": "saving", "queued": "waiting"}

START_LABEL = "Start recording (client has consented)"
NOTE_READY = Notice("Draft note ready", "A draft progress note is ready in your notes folder. "
                    "Review it before you sign it.")
NOTE_READY_PARTIAL = Notice("Draft note ready: the recording ended early",
                            "The recording's file was cut short, so the draft note covers only the part before "
                            "that (the note says where). Check the original recording; `hushnote queue` has details.")
JOB_FAILED = Notice("A recording could not be processed",
                    "hushnote could not turn a recording into a note. The audio is kept. "
                    "Run `hushnote queue` to see why, then `hushnote retry`.")
SERVICE_LOST_WHILE_RECORDING = Notice(
    "Recording interrupted", "The hushnote service stopped while recording. What was recorded before that "
    "has been kept if the service saved it; start the service and check the queue.")


@dataclass(frozen=True)
class TrayModel:
    """Everything the tray knows. Replace, never mutate: each ``with_*`` returns a new model."""

    connected: bool = False
    ever_connected: bool = False
    status: Mapping[str, Any] | None = None
    # recording: None = unknown / not supported by this service version
    record_supported: bool = True
    consent_required: bool = True  # recording.require_consent: a click on the icon may not start a recording
    recording: bool = False
    elapsed_s: float = 0.0
    elapsed_at: float = 0.0  # monotonic time at which elapsed_s was true
    level_db: float | None = None
    record_warning: str | None = None
    # progress, from events between status polls
    current: Mapping[str, Any] | None = None
    last_note_at: float | None = None  # wall clock (time.time()) of the last note made while we watched
    error: str | None = None  # a problem to show until dismissed or superseded
    busy: str | None = None  # an action in flight ("Starting the service…")

    # ------------------------------------------------------------------ inputs

    def with_status(self, status: Mapping[str, Any]) -> TrayModel:
        return replace(self, connected=True, ever_connected=True, status=dict(status),
                       current=status.get("current"), busy=None)

    def with_record_status(self, rec: Mapping[str, Any] | None, now: float) -> TrayModel:
        """``rec`` is the ``record.status`` reply, or None when this service has no recorder."""
        if rec is None:
            return replace(self, record_supported=False, recording=False)
        recording = bool(rec.get("recording"))
        return replace(self, record_supported=True, recording=recording,
                       consent_required=rec.get("require_consent") is not False,
                       elapsed_s=float(rec.get("elapsed_s") or 0.0) if recording else 0.0,
                       elapsed_at=now, level_db=_float_or_none(rec.get("level_db")),
                       record_warning=self.record_warning if recording else None)

    def disconnected(self) -> tuple[TrayModel, list[Notice]]:
        notices = [SERVICE_LOST_WHILE_RECORDING] if self.connected and self.recording else []
        return replace(self, connected=False, status=None, current=None, recording=False, level_db=None,
                       record_warning=None), notices

    def with_error(self, message: str | None) -> TrayModel:
        return replace(self, error=message, busy=None)

    def with_busy(self, message: str | None) -> TrayModel:
        return replace(self, busy=message)

    def with_event(self, name: str, data: Mapping[str, Any], now: float,
                   wall: float | None = None) -> tuple[TrayModel, list[Notice]]:
        """Apply one service event. Returns the new model and notifications to show."""
        wall = time.time() if wall is None else wall
        if name == "job.progress":
            return replace(self, current={"id": data.get("id"), "stage": data.get("stage"),
                                          "fraction": data.get("fraction")}), []
        if name == "job.done":
            cur = None if self.current and self.current.get("id") == data.get("id") else self.current
            state = data.get("state")
            if state == "done":
                notice = NOTE_READY_PARTIAL if data.get("warning") else NOTE_READY
                return replace(self, current=cur, last_note_at=wall), [notice]
            if state == "failed":
                return replace(self, current=cur, error=JOB_FAILED.message), [JOB_FAILED]
            return replace(self, current=cur), []
        if name == "state":
            st = dict(self.status or {})
            if data.get("state") in ("running", "paused"):
                st["state"] = data["state"]
            return replace(self, status=st), []
        if name == "record.level":
            return replace(self, recording=True, elapsed_s=float(data.get("elapsed_s") or 0.0), elapsed_at=now,
                           level_db=_float_or_none(data.get("level_db"))), []
        if name == "record.warning":
            msg = str(data.get("message") or "The recording needs your attention.")
            return replace(self, record_warning=msg), [Notice("Recording warning", msg)]
        if name == "record.stopped":
            reason = str(data.get("reason") or "")
            seconds = _float_or_none(data.get("seconds"))
            model = replace(self, recording=False, elapsed_s=0.0, level_db=None, record_warning=None)
            if reason in ("", "user", "stopped", "requested"):
                length = f" ({format_elapsed(seconds)})" if seconds else ""
                return model, [Notice("Recording saved",
                                      f"The recording{length} is saved and queued for a draft note.")]
            return model, [Notice("Recording stopped", f"The recording stopped: {_reason_text(reason)}. "
                                  "What was recorded so far is saved and queued.")]
        return self, []


def _float_or_none(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return None


_REASONS = {"device_lost": "the microphone was disconnected", "disk_full": "the disk is full",
            "max_duration": "it reached the longest allowed length", "error": "of an error",
            "shutdown": "the service was stopped"}


def _reason_text(reason: str) -> str:
    return _REASONS.get(reason, reason.replace("_", " "))


def format_elapsed(seconds: float | None) -> str:
    s = max(0, int(seconds or 0))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def format_minutes(seconds: float) -> str:
    m = int(seconds // 60)
    return "under a minute" if m < 1 else _plural(m, "minute")


def _clock(wall: float) -> str:
    return time.strftime("%H:%M", time.localtime(wall))


def _waiting(queue: Mapping[str, Any]) -> int:
    return int(queue.get("queued") or 0) + int(queue.get("running") or 0)


def privacy_line(status: Mapping[str, Any]) -> str | None:
    """The service's network guard in a few words, or None when the service does not report one."""
    g = status.get("guard")
    if not isinstance(g, Mapping) or not g.get("installed"):
        return None
    n = g.get("blocked")
    n = n if isinstance(n, int) and not isinstance(n, bool) else 0
    if g.get("allow_network"):
        return "Network guard off: counting only" + (f" ({_plural(n, 'attempt')})" if n else "")
    return "Offline: nothing leaves this computer" + (f" ({_plural(n, 'attempt')} stopped)" if n else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ----------------------------------------------------------------------------- the view

def view(model: TrayModel, now: float) -> TrayView:
    """The icon, title and menu for ``model``; ``now`` is ``time.monotonic()``."""
    status = model.status or {}
    queue = status.get("queue") or {}
    paused = status.get("state") == "paused"
    waiting = _waiting(queue)
    current = model.current
    fraction = _float_or_none(current.get("fraction")) if current else None
    if fraction is not None:
        fraction = max(0.0, min(1.0, fraction))
    elapsed = model.elapsed_s + max(0.0, now - model.elapsed_at) if model.recording else 0.0
    last_note = f"last note ready at {_clock(model.last_note_at)}" if model.last_note_at else ""
    privacy = privacy_line(status)

    # icon and title, most urgent first
    if not model.connected:
        icon = IconState.ATTENTION
        title = (model.busy or "The hushnote service is not running.") + (
            "" if model.busy else " Choose “Start service” from this menu.")
        line = model.busy or "Service not running"
    elif model.recording:
        icon = IconState.RECORDING
        title = f"Recording {format_elapsed(elapsed)}"
        if model.record_warning:
            title += f". {model.record_warning}"
        title += ". Click to stop."
        # the menu changes at most once a minute (a menu rebuilt every second flickers while open)
        line = f"Recording for {format_minutes(elapsed)}"
        if model.record_warning:
            line += " (warning)"
    elif model.error:
        icon = IconState.ATTENTION
        title = model.error
        line = "Needs attention: see below"
    elif paused:
        icon = IconState.PAUSED
        title = "Processing is paused"
        title += f"; {_plural(waiting, 'recording')} waiting." if waiting else "."
        line = f"Paused, {waiting} waiting" if waiting else "Paused"
    elif current is not None or waiting:
        icon = IconState.PROCESSING
        stage = STAGES.get(str(current.get("stage")), "working") if current else "waiting"
        pct = f" {round(fraction * 100)}%" if fraction is not None else ""
        more = max(0, waiting - (1 if current else 0))
        title = f"Making a note: {stage}{pct}" if current else f"{_plural(waiting, 'recording')} waiting"
        if current and more:
            title += f"; {more} more waiting"
        title += "."
        line = f"Working{pct}, {waiting} in queue" if current else f"{waiting} in queue"
    else:
        icon = IconState.IDLE
        title = "Ready" + (f"; {last_note}." if last_note else ".")
        if model.record_supported and model.consent_required:
            title += " Start recording from this menu once your client has consented."
        elif model.record_supported:
            title += " Click to start recording."
        line = "Ready"
    if last_note and model.connected and not model.recording:
        line += f"; {last_note}"
    if model.busy and model.connected:
        line = model.busy

    # the menu
    if model.recording:
        rec = MenuEntry(Action.RECORD, "Stop recording",
                        enabled=model.connected, default=True)
    elif model.connected and not model.record_supported:
        rec = MenuEntry(Action.RECORD, "Recording is not available in this version", enabled=False)
    else:
        # a click on the icon starts a recording only if the service does not ask for consent (the menu's
        # wording is the clinician's confirmation that the client agreed)
        rec = MenuEntry(Action.RECORD, START_LABEL, enabled=model.connected and model.busy is None,
                        default=not model.consent_required)
    menu = (
        rec,
        MenuEntry(Action.STATUS, line, enabled=False, separator_before=True),
        MenuEntry(Action.PRIVACY, privacy or "", enabled=False, visible=bool(privacy) and model.connected),
        MenuEntry(Action.DISMISS, "Dismiss this warning", visible=bool(model.error) and model.connected),
        MenuEntry(Action.OPEN_NOTES, "Open notes folder", separator_before=True),
        MenuEntry(Action.OPEN_INBOX, "Open inbox"),
        MenuEntry(Action.PAUSE, "Resume processing" if paused else "Pause processing",
                  enabled=model.connected, separator_before=True),
        MenuEntry(Action.START_SERVICE, "Start service" if not model.connected else "Service is running",
                  enabled=not model.connected and model.busy is None),
        MenuEntry(Action.QUIT, "Quit tray", separator_before=True),
    )
    return TrayView(icon=icon, title=f"{APP_NAME}: {title}", menu=menu,
                    fraction=fraction if icon is IconState.PROCESSING else None)
