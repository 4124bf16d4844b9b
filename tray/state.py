"""What the tray shows, as a pure function of what it knows. No I/O, no clock, no pystray.

The app feeds a ``TrayModel`` with what the service said (``with_status``, ``with_record_status``,
``with_event``, ``disconnected``) and what is in the notes folder (``with_notes``; ``tray.notes`` reads it),
and asks ``view(model, now)`` for a ``TrayView``: the icon to draw, the tooltip/title and every menu entry
(with submenus) with its label and whether it is enabled. Events can also ask for a desktop notification
(``Notice``); a few actions ask a question first (``Ask``). ``now`` is ``time.monotonic()`` seconds, used only
to extrapolate the recording's elapsed time between service updates.

Wording rules: plain English for a clinician, no internal codes; the daemon's own ``message`` and ``reason``
strings are already written for the clinician and are shown as they are. The only name shown is the
session's (its note's name: ``Session <date> <time>`` for a recording, the file's own name for an inbox
file), because the clinician has to know which note is ready or which recording failed; never a path,
never transcript text.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hushnote.daemon.core.datatypes import ROLE_BASES, parse_speakers

APP_NAME = "hushnote"
RECENT_NOTES = 5  # the last notes the menu lists
LEVEL_BARS = 5


class IconState(enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"
    PROCESSING = "processing"
    PAUSED = "paused"
    ATTENTION = "attention"  # the service is not running (or an action of the tray's went wrong)
    FAILED = "failed"  # a job failed and nobody has looked at the menu's list yet


class Action(enum.Enum):
    """What a menu entry does; the app maps each to a handler. ``MenuEntry.arg`` says on what."""

    RECORD = "record"  # start or stop, by the model's recording state (the menu item: consent confirmed)
    CLICK = "click"  # the icon itself was clicked: stop; start only if the service does not require consent
    STATUS = "status"  # an informational line; does nothing
    JOB = "job"  # a running job's line (arg: job id); does nothing
    PRIVACY = "privacy"  # the network guard's line (offline, attempts refused); does nothing
    DISMISS = "dismiss"  # clear the warning (the failures stay listed)
    FAILURE = "failure"  # a failed job (arg: job id): its submenu
    RETRY = "retry"  # arg: job id
    SHOW_REPORT = "show_report"  # arg: the error report's path
    HEADING = "heading"  # a heading over a group of entries ("Last notes"); does nothing
    NOTE = "note"  # one of the last notes (arg: its path): its submenu
    OPEN_NOTE = "open_note"  # arg: the note's path
    SIGN_NOTE = "sign_note"  # arg: the note's path; asks first (``sign_question``)
    COPY_NOTE = "copy_note"  # arg: the note's path (plain text for the health record)
    SWAP_NOTE = "swap_note"  # arg: the last note's path; asks first (``swap_question``)
    OPEN_NOTES = "open_notes"
    OPEN_INBOX = "open_inbox"
    PAUSE = "pause"  # pause or resume processing
    START_SERVICE = "start_service"
    QUIT = "quit"  # asks first while recording (``quit_question``)
    QUESTION = "question"  # a question asked in the menu (no dialog on this desktop); does nothing
    CONFIRM = "confirm"  # the yes of a question asked in the menu (no dialog on this desktop)
    CANCEL = "cancel"  # its no


@dataclass(frozen=True)
class MenuEntry:
    action: Action
    label: str
    enabled: bool = True
    checked: bool | None = None  # None: not a check item
    default: bool = False  # the left-click action where the backend has one
    visible: bool = True
    separator_before: bool = False
    arg: str | None = None  # what the action applies to (a job id, a note's path)
    submenu: tuple[MenuEntry, ...] = ()


@dataclass(frozen=True)
class TrayView:
    icon: IconState
    title: str
    menu: tuple[MenuEntry, ...]
    fraction: float | None = None  # the current job's progress, drawn as an arc when processing

    def entry(self, action: Action, arg: str | None = None) -> MenuEntry:
        """The first entry (submenus included) for ``action`` (and ``arg``, if given)."""
        for e in self.walk():
            if e.action is action and (arg is None or e.arg == arg):
                return e
        raise KeyError(action)

    def entries(self, action: Action) -> list[MenuEntry]:
        return [e for e in self.walk() if e.action is action]

    def walk(self) -> Iterator[MenuEntry]:
        """Every entry, depth first (a submenu's entries right after its parent)."""
        stack = list(reversed(self.menu))
        while stack:
            e = stack.pop()
            yield e
            stack.extend(reversed(e.submenu))


@dataclass(frozen=True)
class Notice:
    """A desktop notification to show once. ``opens``: the file a click on it opens (the note, the report)."""

    title: str
    message: str
    opens: str | None = None
    app: str = APP_NAME


@dataclass(frozen=True)
class Ask:
    """A question to answer before ``action`` runs (on ``arg``)."""

    title: str
    message: str
    yes: str
    no: str
    action: Action
    arg: str | None = None


@dataclass(frozen=True)
class Failure:
    """A failed job as the menu lists it (``status.failed_recent`` / a ``job.done`` event)."""

    id: str
    session: str
    reason: str
    retryable: bool = False
    report: str | None = None  # the error report's path

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Failure:
        report = data.get("report")
        return cls(id=str(data.get("id") or ""), session=str(data.get("session") or "a recording"),
                   reason=str(data.get("reason") or "The recording could not be made into a note."),
                   retryable=data.get("retryable") is True, report=report if isinstance(report, str) else None)


@dataclass(frozen=True)
class NoteInfo:
    """One note in the notes folder (``tray.notes.recent_notes`` reads them)."""

    path: str
    session: str
    modified: float  # wall clock (st_mtime)
    status: str = "draft"  # "draft", "signed", "encrypted" (notes.encrypt: opened with `hushnote open`)
    speakers: str = ""  # the front matter's ``speakers:`` line ("Therapist/Client (by channel)"), "" if none

    @property
    def roles(self) -> tuple[str, str] | None:
        """The two role names (therapist first) when the note's lines are labelled with roles, else None."""
        names, basis = parse_speakers(self.speakers)
        return (names[0], names[1]) if basis in ROLE_BASES and len(names) == 2 else None


STAGES = {"decode": "reading audio", "transcribe": "transcribing", "draft": "drafting the note",
          "write": "saving", "queued": "waiting", "start": "starting"}

START_LABEL = "Start recording (client has consented)"
PAUSE_LABEL = "Pause processing (recording still works)"
NOTE_READY = Notice("Draft note ready", "A draft progress note is ready in your notes folder. "
                    "Review it before you sign it.")
NOTE_READY_PARTIAL = Notice("Draft note ready: the recording ended early",
                            "The recording's file was cut short, so the draft note covers only the part before "
                            "that (the note says where). Check the original recording; `hushnote queue` has details.")
JOB_FAILED = Notice("A recording could not be processed",
                    "hushnote could not turn a recording into a note. The audio is kept. "
                    "Open the hushnote menu to retry or to see the report.")
SERVICE_LOST_WHILE_RECORDING = Notice(
    "Recording interrupted", "The hushnote service stopped while recording. What was recorded before that "
    "has been kept if the service saved it; start the service and check the queue.")


def note_ready(data: Mapping[str, Any]) -> Notice:
    """The notification for a finished job: "Draft note ready: SESSION", or, when no section of the note had
    anything from the session, that it is empty. A click opens the note."""
    session, note = data.get("session"), data.get("note")
    opens = note if isinstance(note, str) else None
    if not session:
        return replace(NOTE_READY_PARTIAL if data.get("warning") else NOTE_READY, opens=opens)
    if data.get("warning"):
        return Notice(f"Draft note ready, recording cut short: {session}", NOTE_READY_PARTIAL.message, opens)
    if data.get("empty") is True:
        return Notice(f"Empty note: {session}", "Nothing in this session matched any section of the note: every "
                      "section says it was not discussed. Check that this was the right recording.", opens)
    return Notice(f"Draft note ready: {session}", "Click to open it. Review it before you sign it.", opens)


def job_failed(f: Failure) -> Notice:
    what = "Open the hushnote menu to retry or to see the report." if f.retryable else \
        "Open the hushnote menu to see the report."
    return Notice(f"No note for: {f.session}", f"{f.reason} {what}", f.report)


def quit_question(model: TrayModel) -> Ask | None:
    """Quitting the tray while recording asks first (the recording itself goes on in the service)."""
    if not (model.connected and model.recording):
        return None
    return Ask("Quit the hushnote tray?",
               "A session is being recorded. Quitting the tray does not stop it: the recording goes on in the "
               "hushnote service. To stop it later, start the tray again or run `hushnote record stop`.",
               "Quit tray, keep recording", "Cancel", Action.QUIT)


def sign_question(note: NoteInfo) -> Ask:
    return Ask(f"Sign the note {note.session}?",
               "Signing marks the note final: it becomes read-only, any later change shows when it is verified, "
               "and the session's audio is deleted now (unless your settings keep it). Sign only after you have "
               "reviewed and corrected it.", "Sign note", "Cancel", Action.SIGN_NOTE, note.path)


SWAP_LABEL = "Swap speakers in the last note"
SIGNED_UNCHANGEABLE = ("A signed note cannot be changed. If its speakers are the wrong way round, make it a draft "
                       "again with `hushnote unsign`, then swap.")


def why_not_swappable(note: NoteInfo) -> str | None:
    """Why the speakers of ``note`` cannot be swapped from the menu (a few words), or None when they can:
    a draft whose lines carry two roles (Therapist/Client). A signed note is never changed."""
    if note.status == "signed":
        return "signed notes cannot be changed"
    if note.status == "encrypted":
        return "it is encrypted: use `hushnote speakers swap`"
    if note.roles is None:
        names, basis = parse_speakers(note.speakers)
        return "it has more than two speakers" if basis in ROLE_BASES and len(names) > 2 else \
            "its lines have no Therapist/Client roles"
    return None


def _swap_entry(model: TrayModel) -> MenuEntry:
    """"Swap speakers in the last note": enabled for a draft whose two roles are known; else it says why not."""
    last = model.notes[0]
    why = why_not_swappable(last)
    return MenuEntry(Action.SWAP_NOTE, SWAP_LABEL if why is None else f"{SWAP_LABEL} ({why})",
                     enabled=why is None and model.busy is None, arg=last.path)


def swap_question(note: NoteInfo) -> Ask:
    a, b = note.roles or ("Therapist", "Client")
    return Ask(f"Swap {a} and {b} in {note.session}?",
               f"Every line now marked {a} becomes {b} and the other way round, and the note is drafted again "
               "from the swapped transcript: changes you made to this draft are replaced. Swapping again "
               "undoes it.", "Swap speakers", "Cancel", Action.SWAP_NOTE, note.path)


def _swap_notice(session: str, code: int, out: str, plain: str) -> Notice:
    """What ``hushnote speakers swap NOTE`` did, in a sentence (``plain``: its own words, for a failure)."""
    if code != 0:
        return Notice(f"Speakers not swapped: {session}", plain or "`hushnote speakers swap` did not work.")
    line = next((ln.partition(":")[2].strip() for ln in out.splitlines() if ln.startswith("Speakers:")), "")
    names, _ = parse_speakers(line)
    a, b = (names[0], names[1]) if len(names) == 2 else ("The two speakers", "")
    who = f"{a} and {b}" if b else a
    if "is signed and was left as it is" in out:
        return Notice(f"Speakers swapped in a new draft: {session}", f"{session} is signed, so it was left as it "
                      f"is; {who} were swapped in a new draft beside it.")
    return Notice(f"Speakers swapped: {session}", f"{who} swapped in {session}; the note was drafted again.")


def note_command_notice(verb: str, note: str, session: str, code: int, out: str, err: str) -> Notice:
    """What ``hushnote sign|copy|speakers swap NOTE`` did, for a notification: its own plain sentences, the
    note's path replaced by the session's name. ``code`` 0: it worked."""
    def plain(text: str) -> str:
        lines = [ln.strip().removeprefix("hushnote: ") for ln in text.splitlines() if ln.strip()]
        return " ".join(lines).replace(note, session)

    if verb == "swap":
        return _swap_notice(session, code, out, plain(err) or plain(out))
    if code != 0:
        what = "signed" if verb == "sign" else "copied"
        return Notice(f"Not {what}: {session}", plain(err) or plain(out) or f"`hushnote {verb}` did not work.",
                      opens=None)
    if verb == "sign":
        rest = "\n".join(out.splitlines()[1:])  # the first line names the signer and the file
        return Notice(f"Signed: {session}", plain(rest) or "The note is final and read-only.")
    return Notice(f"Copied for the record: {session}", "Paste it into the health record. " + plain(out))


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
    running: tuple[Mapping[str, Any], ...] = ()  # jobs in progress {id, kind, stage, fraction, session}
    failures: tuple[Failure, ...] = ()  # newest first; the service's list, plus failures seen since
    acknowledged: frozenset[str] = field(default_factory=frozenset)  # failures the clinician dismissed
    notes: tuple[NoteInfo, ...] = ()  # the last notes, newest first
    last_note_at: float | None = None  # wall clock (time.time()) of the last note made while we watched
    error: str | None = None  # a problem to show until dismissed or superseded
    busy: str | None = None  # an action in flight ("Starting the service…")
    asking: Ask | None = None  # a question shown in the menu (where no dialog can be shown) until answered

    @property
    def current(self) -> Mapping[str, Any] | None:
        """The first running job."""
        return self.running[0] if self.running else None

    @property
    def unseen_failures(self) -> tuple[Failure, ...]:
        return tuple(f for f in self.failures if f.id not in self.acknowledged)

    # ------------------------------------------------------------------ inputs

    def with_status(self, status: Mapping[str, Any]) -> TrayModel:
        failures = self.failures
        recent = status.get("failed_recent")
        if isinstance(recent, list):  # the service's list is the truth (a retried job leaves it)
            failures = tuple(Failure.of(d) for d in recent if isinstance(d, Mapping))
        return replace(self, connected=True, ever_connected=True, status=dict(status),
                       running=_running(status), failures=failures, busy=None)

    def with_notes(self, notes: Sequence[NoteInfo]) -> TrayModel:
        ordered = sorted(notes, key=lambda n: n.modified, reverse=True)
        return replace(self, notes=tuple(ordered[:RECENT_NOTES]))

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
        return replace(self, connected=False, status=None, running=(), recording=False, level_db=None,
                       record_warning=None), notices

    def with_error(self, message: str | None) -> TrayModel:
        return replace(self, error=message, busy=None)

    def dismissed(self) -> TrayModel:
        """The clinician dismissed the warning: it and the failed icon go; the failures stay in the menu."""
        return replace(self, error=None, acknowledged=self.acknowledged | {f.id for f in self.failures})

    def with_question(self, ask: Ask | None) -> TrayModel:
        """Ask ``ask`` in the menu (its first entries) until it is answered (``with_question(None)``)."""
        return replace(self, asking=ask)

    def with_busy(self, message: str | None) -> TrayModel:
        return replace(self, busy=message)

    def with_event(self, name: str, data: Mapping[str, Any], now: float,
                   wall: float | None = None) -> tuple[TrayModel, list[Notice]]:
        """Apply one service event. Returns the new model and notifications to show."""
        wall = time.time() if wall is None else wall
        if name == "job.progress":
            return replace(self, running=_progressed(self.running, data)), []
        if name == "job.done":
            return self._job_done(data, wall)
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
            return self._record_stopped(data)
        return self, []

    def _job_done(self, data: Mapping[str, Any], wall: float) -> tuple[TrayModel, list[Notice]]:
        job_id = data.get("id")
        model = replace(self, running=tuple(j for j in self.running if j.get("id") != job_id))
        state = data.get("state")
        if state == "done":
            return replace(model, last_note_at=wall), [note_ready(data)]
        if state != "failed":
            return model, []
        if "session" not in data:  # an older service: no name, no reason
            return replace(model, error=JOB_FAILED.message), [JOB_FAILED]
        failure = Failure.of(data)
        failures = (failure, *(f for f in model.failures if f.id != failure.id))
        return replace(model, failures=failures, acknowledged=model.acknowledged - {failure.id}), \
            [job_failed(failure)]

    def _record_stopped(self, data: Mapping[str, Any]) -> tuple[TrayModel, list[Notice]]:
        reason = str(data.get("reason") or "")
        seconds = _float_or_none(data.get("seconds"))
        model = replace(self, recording=False, elapsed_s=0.0, level_db=None, record_warning=None)
        if reason in ("", "user", "stopped", "requested"):
            length = f" ({format_elapsed(seconds)})" if seconds else ""
            return model, [Notice("Recording saved", f"The recording{length} is saved and queued for a draft note.")]
        return model, [Notice("Recording stopped", f"The recording stopped: {_reason_text(reason)}. "
                              "What was recorded so far is saved and queued.")]


def _running(status: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """The running jobs of a ``status`` result (an older service sends only ``current``)."""
    running = status.get("running")
    if isinstance(running, list):
        return tuple(dict(j) for j in running if isinstance(j, Mapping))
    cur = status.get("current")
    return (dict(cur),) if isinstance(cur, Mapping) else ()


def _progressed(running: tuple[Mapping[str, Any], ...], data: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """``running`` with one job's progress event applied (a job not listed yet is added)."""
    job_id = data.get("id")
    known = next((j for j in running if j.get("id") == job_id), {})
    updated = {**known, **{k: data[k] for k in ("id", "stage", "fraction", "session") if k in data}}
    if known:
        return tuple(updated if j is known else j for j in running)
    return (*running, updated)


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


def _day_clock(wall: float) -> str:
    """``Mon 14:05``: when a note was last changed, in local time."""
    return time.strftime("%a %H:%M", time.localtime(wall))


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


def level_meter(db: float | None) -> str:
    """A recording level as five bars (``▮▮▮▯▯``): one per 10 dB above -65 dBFS, where silence starts."""
    if db is None:
        return ""
    bars = max(0, min(LEVEL_BARS, int((db + 65.0 + 9.999) // 10)))
    return "▮" * bars + "▯" * (LEVEL_BARS - bars) + (" no sound" if bars == 0 else "")


def _pct(fraction: Any) -> str:
    f = _float_or_none(fraction)
    return "" if f is None else f"{round(max(0.0, min(1.0, f)) * 100)}%"


# ----------------------------------------------------------------------------- the view

@dataclass(frozen=True)
class _Headline:
    icon: IconState
    title: str
    line: str


def _headline(model: TrayModel, now: float) -> _Headline:
    """The icon, the tooltip and the menu's status line: the most urgent state wins."""
    status = model.status or {}
    waiting = _waiting(status.get("queue") or {})
    last_note = f"last note ready at {_clock(model.last_note_at)}" if model.last_note_at else ""
    if not model.connected:
        title = (model.busy or "The hushnote service is not running.") + (
            "" if model.busy else " Choose “Start service” from this menu.")
        return _Headline(IconState.ATTENTION, title, model.busy or "Service not running")
    if model.recording:
        elapsed = model.elapsed_s + max(0.0, now - model.elapsed_at)
        title = f"Recording {format_elapsed(elapsed)}" + (f". {model.record_warning}" if model.record_warning else "")
        meter = level_meter(model.level_db)
        line = f"Recording {format_elapsed(elapsed)}" + (f"   level {meter}" if meter else "")
        return _Headline(IconState.RECORDING, title + ". Click to stop.",
                         line + (" (warning)" if model.record_warning else ""))
    if model.error:
        return _Headline(IconState.ATTENTION, model.error, "Needs attention: see below")
    if unseen := model.unseen_failures:
        title = f"No note for: {unseen[0].session}. {unseen[0].reason}" if len(unseen) == 1 else \
            f"{_plural(len(unseen), 'recording')} could not be made into notes"
        return _Headline(IconState.FAILED, title + " See the menu.",
                         f"{_plural(len(unseen), 'recording')} {'needs' if len(unseen) == 1 else 'need'} "
                         "your attention (below)")
    if status.get("state") == "paused":
        title = "Processing is paused: recording still works, and notes are made after you choose Resume"
        title += f"; {_plural(waiting, 'recording')} waiting." if waiting else "."
        return _Headline(IconState.PAUSED, title, "Paused: notes come after Resume" + (
            f"; {waiting} waiting" if waiting else ""))
    if model.running or waiting:
        return _processing(model, waiting)
    title = "Ready" + (f"; {last_note}." if last_note else ".")
    if model.record_supported and model.consent_required:
        title += " Start recording from this menu once your client has consented."
    elif model.record_supported:
        title += " Click to start recording."
    return _Headline(IconState.IDLE, title, "Ready" + (f"; {last_note}" if last_note else ""))


def _processing(model: TrayModel, waiting: int) -> _Headline:
    cur = model.current
    more = max(0, waiting - len(model.running))
    if cur is None:
        return _Headline(IconState.PROCESSING, f"{_plural(waiting, 'recording')} waiting.", f"{waiting} in queue")
    stage = STAGES.get(str(cur.get("stage")), "working")
    pct = _pct(cur.get("fraction"))
    title = f"Making a note: {stage}" + (f" {pct}" if pct else "")
    if len(model.running) > 1:
        title = f"Making {len(model.running)} notes"
    title += f"; {more} more waiting." if more else "."
    line = f"Making {_plural(len(model.running), 'note')}" + (f", {more} more waiting" if more else "")
    return _Headline(IconState.PROCESSING, title, line)


def _record_entry(model: TrayModel) -> MenuEntry:
    if model.recording:
        return MenuEntry(Action.RECORD, "Stop recording", enabled=model.connected, default=True)
    if model.connected and not model.record_supported:
        return MenuEntry(Action.RECORD, "Recording is not available in this version", enabled=False)
    # a click on the icon starts a recording only if the service does not ask for consent (the menu's
    # wording is the clinician's confirmation that the client agreed)
    return MenuEntry(Action.RECORD, START_LABEL, enabled=model.connected and model.busy is None,
                     default=not model.consent_required)


def _job_lines(model: TrayModel) -> list[MenuEntry]:
    """One line per running job: ``Making a note: SESSION, transcribing 42%`` (the whole job's share)."""
    out = []
    for job in model.running if model.connected else ():
        stage = STAGES.get(str(job.get("stage")), "working")
        pct = _pct(job.get("fraction"))
        who = job.get("session") or "a recording"
        out.append(MenuEntry(Action.JOB, f"Making a note: {who}, {stage}" + (f" {pct}" if pct else ""),
                             enabled=False, arg=str(job.get("id"))))
    return out


def _failure_entries(model: TrayModel) -> list[MenuEntry]:
    """Each failure: "SESSION: reason" with Retry and Show report (kept after Dismiss)."""
    out = []
    for i, f in enumerate(model.failures):
        sub = (MenuEntry(Action.RETRY, "Retry", enabled=f.retryable and model.connected, arg=f.id),
               MenuEntry(Action.SHOW_REPORT, "Show report", enabled=f.report is not None, arg=f.report))
        out.append(MenuEntry(Action.FAILURE, f"No note for {f.session}: {f.reason}",
                             separator_before=i == 0, arg=f.id, submenu=sub))
    return out


def _note_entries(model: TrayModel) -> list[MenuEntry]:
    """The last notes, newest first, each with Open, Sign… and Copy for the record; then "Swap speakers in
    the last note"."""
    out = [MenuEntry(Action.HEADING, "Last notes:", enabled=False, separator_before=True)] if model.notes else []
    for n in model.notes:
        # an encrypted note (notes.encrypt) cannot be opened in an editor; `hushnote sign`/`copy` decrypt it
        sub = (MenuEntry(Action.OPEN_NOTE, "Open", enabled=n.status != "encrypted", arg=n.path),
               MenuEntry(Action.SIGN_NOTE, "Signed" if n.status == "signed" else "Sign…",
                         enabled=n.status != "signed", arg=n.path),
               MenuEntry(Action.COPY_NOTE, "Copy for the record", arg=n.path))
        out.append(MenuEntry(Action.NOTE, f"{n.session} ({n.status}, {_day_clock(n.modified)})", arg=n.path,
                             submenu=sub))
    return [*out, _swap_entry(model)] if model.notes else out


INFO_LINES = frozenset({Action.STATUS, Action.JOB, Action.PRIVACY})


def menu_shape(menu: Sequence[MenuEntry]) -> tuple[MenuEntry, ...]:
    """``menu`` without the text of its informational lines (status, job progress, privacy). Two menus of one
    shape differ only in that text: a UI updates those labels in place instead of rebuilding an open menu
    (the recording's clock changes every second)."""
    return tuple(replace(e, label="", submenu=menu_shape(e.submenu)) if e.action in INFO_LINES
                 else replace(e, submenu=menu_shape(e.submenu)) for e in menu)


def _question_entries(ask: Ask | None) -> tuple[MenuEntry, ...]:
    if ask is None:
        return ()
    return (MenuEntry(Action.QUESTION, ask.title, enabled=False),
            MenuEntry(Action.CONFIRM, ask.yes, arg=ask.arg),
            MenuEntry(Action.CANCEL, ask.no))


def view(model: TrayModel, now: float) -> TrayView:
    """The icon, title and menu for ``model``; ``now`` is ``time.monotonic()``."""
    status = model.status or {}
    paused = status.get("state") == "paused"
    head = _headline(model, now)
    line = model.busy if model.busy and model.connected else head.line
    privacy = privacy_line(status)
    fraction = _float_or_none(model.current.get("fraction")) if model.current else None
    if fraction is not None:
        fraction = max(0.0, min(1.0, fraction))
    menu = (
        *_question_entries(model.asking),
        _record_entry(model),
        MenuEntry(Action.STATUS, line, enabled=False, separator_before=True),
        *_job_lines(model),
        MenuEntry(Action.PRIVACY, privacy or "", enabled=False, visible=bool(privacy) and model.connected),
        MenuEntry(Action.DISMISS, "Dismiss this warning",
                  visible=bool(model.error or model.unseen_failures) and model.connected),
        *_failure_entries(model),
        *_note_entries(model),
        MenuEntry(Action.OPEN_NOTES, "Open notes folder", separator_before=True),
        MenuEntry(Action.OPEN_INBOX, "Open inbox"),
        MenuEntry(Action.PAUSE, "Resume processing" if paused else PAUSE_LABEL,
                  enabled=model.connected, separator_before=True),
        MenuEntry(Action.START_SERVICE, "Start service" if not model.connected else "Service is running",
                  enabled=not model.connected and model.busy is None),
        MenuEntry(Action.QUIT, "Quit tray", separator_before=True),
    )
    if model.asking is not None:
        menu = (*menu[:3], replace(menu[3], separator_before=True), *menu[4:])
    return TrayView(icon=head.icon, title=f"{APP_NAME}: {head.title}", menu=menu,
                    fraction=fraction if head.icon is IconState.PROCESSING else None)
