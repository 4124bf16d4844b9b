"""The tray's state machine and icons: pure, no service, no display."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from hushnote.tray.icons import SIZE, icon_image
from hushnote.tray.state import (
    JOB_FAILED,
    NOTE_READY,
    SERVICE_LOST_WHILE_RECORDING,
    START_LABEL,
    Action,
    Ask,
    Failure,
    IconState,
    NoteInfo,
    Notice,
    TrayModel,
    format_elapsed,
    level_meter,
    menu_shape,
    quit_question,
    sign_question,
    view,
)

from tests.support.clock import FakeClock


def status(state: str = "running", queued: int = 0, running: int = 0,
           current: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"state": state, "pid": 1234, "version": "0.1.0",
            "queue": {"queued": queued, "running": running, "done": 3, "failed": 0, "cancelled": 0},
            "current": current, "next_retention": None, "failed_audio_kept": 0}


IDLE_REC = {"recording": False, "id": None, "elapsed_s": 0, "level_db": None, "device": "default"}


def connected(**kw: Any) -> TrayModel:
    return TrayModel().with_status(status(**kw)).with_record_status(IDLE_REC, now=0.0)


def test_no_service_means_attention_and_start_service() -> None:
    v = view(TrayModel(), now=0.0)
    assert v.icon is IconState.ATTENTION
    assert "not running" in v.title and "Start service" in v.title
    assert v.entry(Action.START_SERVICE).enabled
    assert v.entry(Action.START_SERVICE).label == "Start service"
    assert not v.entry(Action.RECORD).enabled
    assert not v.entry(Action.PAUSE).enabled
    assert v.entry(Action.OPEN_NOTES).enabled and v.entry(Action.OPEN_INBOX).enabled
    assert v.entry(Action.QUIT).enabled
    assert v.entry(Action.STATUS).label == "Service not running" and not v.entry(Action.STATUS).enabled


def test_idle() -> None:
    v = view(connected(), now=0.0)
    assert v.icon is IconState.IDLE
    assert v.title.startswith("hushnote: Ready.")
    rec = v.entry(Action.RECORD)
    assert rec.label == START_LABEL and "consented" in rec.label
    assert rec.enabled and not rec.default, "a click on the icon must not start: consent is confirmed in the menu"
    assert "from this menu once your client has consented" in v.title
    no_consent = view(connected().with_record_status({**IDLE_REC, "require_consent": False}, now=0.0), now=0.0)
    assert no_consent.entry(Action.RECORD).default and "Click to start recording" in no_consent.title
    assert v.entry(Action.PAUSE).label == "Pause processing (recording still works)"
    assert v.entry(Action.PAUSE).enabled
    assert not v.entry(Action.START_SERVICE).enabled
    assert v.entry(Action.START_SERVICE).label == "Service is running"
    assert not v.entry(Action.DISMISS).visible
    assert v.fraction is None


def test_starting_service_is_shown_and_not_repeatable() -> None:
    m = TrayModel().with_busy("Starting the service…")
    v = view(m, now=0.0)
    assert v.icon is IconState.ATTENTION
    assert "Starting the service" in v.title
    assert not v.entry(Action.START_SERVICE).enabled
    v = view(m.with_status(status()), now=0.0)
    assert v.icon is IconState.IDLE and "Starting" not in v.entry(Action.STATUS).label


def test_recording_red_with_elapsed_time_extrapolated() -> None:
    m = connected().with_record_status({"recording": True, "id": "r1", "elapsed_s": 61.2, "level_db": -30,
                                        "device": "mic"}, now=100.0)
    v = view(m, now=100.0)
    assert v.icon is IconState.RECORDING
    assert "Recording 1:01" in v.title
    assert v.entry(Action.RECORD).label == "Stop recording"
    assert v.entry(Action.STATUS).label == "Recording 1:01   level ▮▮▮▮▯"  # mm:ss and the level, in the menu
    assert v.entry(Action.RECORD).enabled and v.entry(Action.RECORD).default
    # between service updates the clock keeps going
    assert "Recording 1:11" in view(m, now=110.0).title
    # a level event resets the base
    m2, notes = m.with_event("record.level", {"elapsed_s": 3725, "level_db": -20}, now=200.0)
    assert notes == []
    assert "Recording 1:02:05" in view(m2, now=200.5).title
    assert view(m2, now=200.5).entry(Action.STATUS).label == "Recording 1:02:05   level ▮▮▮▮▮"
    # from one second to the next only the line's text changes: the menu keeps its shape (updated in place)
    a, b = view(m, now=100.0), view(m, now=105.0)
    assert a.menu != b.menu and menu_shape(a.menu) == menu_shape(b.menu)
    assert b.entry(Action.STATUS).label == "Recording 1:06   level ▮▮▮▮▯"


def test_recording_beats_processing_and_pause() -> None:
    m = TrayModel().with_status(status(state="paused", queued=2, current={"id": "j", "stage": "transcribe",
                                                                          "fraction": 0.5}))
    m = m.with_record_status({"recording": True, "elapsed_s": 5}, now=0.0)
    assert view(m, 0.0).icon is IconState.RECORDING


def test_recording_warning_shown_and_notified() -> None:
    m = connected().with_record_status({"recording": True, "elapsed_s": 5}, now=0.0)
    m, notes = m.with_event("record.warning", {"code": "silent", "message": "The microphone hears nothing."},
                            now=1.0)
    assert [n.message for n in notes] == ["The microphone hears nothing."]
    v = view(m, 1.0)
    assert v.icon is IconState.RECORDING and "hears nothing" in v.title


def test_record_stopped_by_user_and_by_fault() -> None:
    m = connected().with_record_status({"recording": True, "elapsed_s": 5}, now=0.0)
    m2, notes = m.with_event("record.stopped", {"id": "r1", "reason": "user", "path": "/x/y.flac",
                                                "seconds": 3000}, now=1.0)
    assert not m2.recording and view(m2, 1.0).icon is IconState.IDLE
    assert notes[0].title == "Recording saved" and "50:00" in notes[0].message
    assert "/x/y" not in notes[0].message  # no paths (may name a client) in notifications
    _, notes = m.with_event("record.stopped", {"id": "r1", "reason": "device_lost", "path": "p", "seconds": 9},
                            now=1.0)
    assert "microphone was disconnected" in notes[0].message


def test_processing_shows_count_and_percent() -> None:
    m = TrayModel().with_status(status(queued=2, running=1, current={"id": "j1", "kind": "inbox",
                                                                    "stage": "transcribe", "fraction": 0.42}))
    v = view(m, 0.0)
    assert v.icon is IconState.PROCESSING
    assert "42%" in v.title and "transcribing" in v.title and "2 more waiting" in v.title
    assert v.fraction == pytest.approx(0.42)
    assert v.entry(Action.STATUS).label == "Making 1 note, 2 more waiting"
    assert [e.label for e in v.entries(Action.JOB)] == ["Making a note: a recording, transcribing 42%"]
    # progress events between polls move the percentage
    m, _ = m.with_event("job.progress", {"id": "j1", "stage": "draft", "fraction": 0.9}, now=0.0)
    v = view(m, 0.0)
    assert "90%" in v.title and "drafting" in v.title
    assert menu_shape(v.menu) == menu_shape(view(m.with_event("job.progress", {"id": "j1", "stage": "draft",
                                                                              "fraction": 0.95}, 0.0)[0], 0.0).menu)
    # only waiting, nothing running yet
    v = view(TrayModel().with_status(status(queued=1)), 0.0)
    assert v.icon is IconState.PROCESSING and "1 recording waiting" in v.title


def test_paused() -> None:
    m = connected(state="paused", queued=3)
    v = view(m, 0.0)
    assert v.icon is IconState.PAUSED
    assert "paused" in v.title and "3 recordings waiting" in v.title
    assert v.entry(Action.PAUSE).label == "Resume processing"
    # paused says what still works and when the note comes
    assert "recording still works" in v.title and "after you choose Resume" in v.title
    assert v.entry(Action.STATUS).label == "Paused: notes come after Resume; 3 waiting"
    assert v.entry(Action.RECORD).enabled and v.entry(Action.RECORD).label == START_LABEL
    # state events flip it without waiting for a poll
    m, _ = m.with_event("state", {"state": "running"}, now=0.0)
    v = view(m, 0.0)
    assert v.icon is IconState.PROCESSING and v.entry(Action.PAUSE).label == "Pause processing (recording still works)"


def test_note_ready_notifies_and_shows_last_note() -> None:
    m = TrayModel().with_status(status(running=1, current={"id": "j1", "stage": "write", "fraction": 0.99}))
    m, notes = m.with_event("job.done", {"id": "j1", "state": "done"}, now=0.0, wall=1_700_000_000.0)
    assert notes == [NOTE_READY]
    assert m.current is None and m.last_note_at == 1_700_000_000.0
    m = m.with_status(status())  # the next poll: nothing waiting
    v = view(m, 0.0)
    assert v.icon is IconState.IDLE
    assert "last note ready at" in v.title and "last note ready at" in v.entry(Action.STATUS).label


def test_job_failed_needs_attention_until_dismissed() -> None:
    m = connected()
    m, notes = m.with_event("job.done", {"id": "j1", "state": "failed"}, now=0.0)
    assert notes == [JOB_FAILED]
    v = view(m, 0.0)
    assert v.icon is IconState.ATTENTION and "could not turn a recording" in v.title
    assert v.entry(Action.DISMISS).visible
    assert v.entry(Action.RECORD).enabled  # a failed job does not stop the clinician recording
    m = m.with_status(status())  # a poll does not clear it by itself
    assert view(m, 0.0).icon is IconState.ATTENTION
    assert view(m.with_error(None), 0.0).icon is IconState.IDLE
    # cancelled: no notice, no error
    m2, notes = connected().with_event("job.done", {"id": "j2", "state": "cancelled"}, now=0.0)
    assert notes == [] and view(m2, 0.0).icon is IconState.IDLE


def test_losing_the_service() -> None:
    m = connected()
    m, notes = m.disconnected()
    assert notes == []
    v = view(m, 0.0)
    assert v.icon is IconState.ATTENTION and v.entry(Action.START_SERVICE).enabled
    # while recording: the clinician is told
    m = connected().with_record_status({"recording": True, "elapsed_s": 5}, now=0.0)
    m, notes = m.disconnected()
    assert notes == [SERVICE_LOST_WHILE_RECORDING]
    assert not m.recording
    # and it comes back
    assert view(m.with_status(status()), 0.0).icon is IconState.IDLE


def test_service_without_recorder() -> None:
    m = TrayModel().with_status(status()).with_record_status(None, now=0.0)
    v = view(m, 0.0)
    assert v.icon is IconState.IDLE
    assert not v.entry(Action.RECORD).enabled and "not available" in v.entry(Action.RECORD).label
    assert "Click to start recording" not in v.title


def test_unknown_events_are_ignored() -> None:
    m = connected()
    assert m.with_event("something.new", {"x": 1}, now=0.0) == (m, [])


@pytest.mark.parametrize(("secs", "text"), [(0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3600, "1:00:00"),
                                            (None, "0:00"), (-5, "0:00")])
def test_format_elapsed(secs: float | None, text: str) -> None:
    assert format_elapsed(secs) == text


def test_icons_are_distinct_shapes_not_just_colours() -> None:
    imgs = {s: icon_image(s, 0.5) for s in IconState}
    for s, im in imgs.items():
        assert im.size == (SIZE, SIZE) and im.mode == "RGBA", s
    # compare the alpha/greyscale silhouettes: distinct even without colour
    grey = {s: im.convert("LA").resize((22, 22)).tobytes() for s, im in imgs.items()}
    assert len(set(grey.values())) == len(IconState)
    # the processing ring follows the fraction
    assert icon_image(IconState.PROCESSING, 0.1).tobytes() != icon_image(IconState.PROCESSING, 0.8).tobytes()
    # other states ignore it
    assert icon_image(IconState.IDLE, 0.1).tobytes() == icon_image(IconState.IDLE, 0.8).tobytes()


def test_privacy_line_shows_the_guard_and_what_it_stopped() -> None:
    def guarded(**g: Any) -> TrayModel:
        return TrayModel().with_status({**status(), "guard": g}).with_record_status(IDLE_REC, now=0.0)

    assert not view(connected(), now=0.0).entry(Action.PRIVACY).visible, "an older service reports no guard"
    on = view(guarded(installed=True, blocked=0, allow_network=False), now=0.0).entry(Action.PRIVACY)
    assert on.visible and not on.enabled and on.label == "Offline: nothing leaves this computer"
    two = view(guarded(installed=True, blocked=2, allow_network=False), now=0.0).entry(Action.PRIVACY)
    assert two.label == "Offline: nothing leaves this computer (2 attempts stopped)"
    off = view(guarded(installed=True, blocked=1, allow_network=True), now=0.0).entry(Action.PRIVACY)
    assert off.label == "Network guard off: counting only (1 attempt)"
    assert not view(guarded(installed=False, blocked=0), now=0.0).entry(Action.PRIVACY).visible
    lost, _ = TrayModel().with_status({**status(), "guard": {"installed": True, "blocked": 0}}).disconnected()
    assert not view(lost, now=0.0).entry(Action.PRIVACY).visible, "nothing is claimed without a service"


# ----------------------------------------------------------------------------- a tray a clinician can trust

def failed(jid: str, session: str, reason: str, *, retryable: bool = True, report: str | None = "/n/x.error.txt",
           ) -> dict[str, Any]:
    return {"id": jid, "state": "failed", "session": session, "reason": reason, "retryable": retryable,
            "report": report}


NOT_AUDIO = "The file is not audio (or is damaged)."


def test_a_failed_job_is_named_explained_and_fixable_from_the_menu() -> None:
    clock = FakeClock()
    m = connected()
    m, notes = m.with_event("job.done", failed("j1", "Tuesday group", NOT_AUDIO, retryable=False,
                                               report="/n/Tuesday group.error.txt"), clock.monotonic(), clock().timestamp())
    assert notes == [Notice("No note for: Tuesday group", f"{NOT_AUDIO} Open the hushnote menu to see the report.",
                            opens="/n/Tuesday group.error.txt")]
    assert notes[0].app == "hushnote"
    v = view(m, clock.monotonic())
    assert v.icon is IconState.FAILED
    assert "Tuesday group" in v.title and NOT_AUDIO in v.title
    entry = v.entry(Action.FAILURE, "j1")
    assert entry.label == f"No note for Tuesday group: {NOT_AUDIO}"
    retry, report = entry.submenu
    assert (retry.action, retry.label, retry.enabled) == (Action.RETRY, "Retry", False), "a rejected file cannot"
    assert (report.action, report.label, report.enabled, report.arg) == (
        Action.SHOW_REPORT, "Show report", True, "/n/Tuesday group.error.txt")
    # a failure the service can retry
    m, notes = m.with_event("job.done", failed("j2", "Session 2025-03-04 10-00", "There is too little speech in "
                                               "the recording to write a note."), clock.monotonic(), clock().timestamp())
    assert "to retry or to see the report" in notes[0].message
    v = view(m, clock.monotonic())
    assert [e.arg for e in v.entries(Action.FAILURE)] == ["j2", "j1"], "newest first"
    assert v.entry(Action.RETRY, "j2").enabled and not v.entry(Action.RETRY, "j1").enabled
    assert "2 recordings could not be made into notes" in v.title
    assert v.entry(Action.RECORD).enabled, "a failed job does not stop the clinician recording"


def test_the_failed_icon_is_not_the_service_down_icon_and_dismiss_keeps_the_list() -> None:
    clock = FakeClock()
    down = view(TrayModel(), clock.monotonic())
    m, _ = connected().with_event("job.done", failed("j1", "A", NOT_AUDIO), clock.monotonic(), clock().timestamp())
    up_failed = view(m, clock.monotonic())
    assert down.icon is IconState.ATTENTION and up_failed.icon is IconState.FAILED
    assert down.entry(Action.STATUS).label == "Service not running"
    assert up_failed.entry(Action.STATUS).label == "1 recording needs your attention (below)"
    assert up_failed.entry(Action.DISMISS).visible
    # dismiss: the warning and the icon go, the failure stays listed with its Retry and report
    m = m.dismissed()
    v = view(m, clock.monotonic())
    assert v.icon is IconState.IDLE and not v.entry(Action.DISMISS).visible
    assert [e.arg for e in v.entries(Action.FAILURE)] == ["j1"]
    # a poll does not bring the warning back for a failure already seen...
    m = m.with_status({**status(), "failed_recent": [failed("j1", "A", NOT_AUDIO)]})
    assert view(m, clock.monotonic()).icon is IconState.IDLE
    # ...but a new failure does, and so does the same job failing again after a retry
    m2, _ = m.with_event("job.done", failed("j1", "A", NOT_AUDIO), clock.monotonic(), clock().timestamp())
    assert view(m2, clock.monotonic()).icon is IconState.FAILED
    # the service's list is the truth: a retried job leaves it
    m3 = m2.with_status({**status(), "failed_recent": []})
    assert view(m3, clock.monotonic()).entries(Action.FAILURE) == [] and view(m3, clock.monotonic()).icon is IconState.IDLE
    # failures the tray did not see happen (it started later) are shown too, until dismissed
    fresh = TrayModel().with_status({**status(), "failed_recent": [failed("j9", "B", NOT_AUDIO)]})
    assert view(fresh, clock.monotonic()).icon is IconState.FAILED
    # the service going away beats everything
    lost, _ = m2.disconnected()
    assert view(lost, clock.monotonic()).icon is IconState.ATTENTION
    assert not view(lost, clock.monotonic()).entry(Action.RETRY, "j1").enabled


def test_note_ready_names_the_session_and_opens_the_note() -> None:
    clock = FakeClock()
    m = TrayModel().with_status(status(running=1, current={"id": "j1", "stage": "write", "fraction": 0.99,
                                                           "session": "Session 2025-03-04 10-00"}))
    done = {"id": "j1", "state": "done", "session": "Session 2025-03-04 10-00", "note": "/n/S.note.md",
            "empty": False}
    m, notes = m.with_event("job.done", done, clock.monotonic(), clock().timestamp())
    assert notes == [Notice("Draft note ready: Session 2025-03-04 10-00",
                            "Click to open it. Review it before you sign it.", opens="/n/S.note.md")]
    assert m.running == () and m.last_note_at == clock().timestamp()
    # a session where every section is empty says so instead
    _, notes = m.with_event("job.done", {**done, "empty": True}, clock.monotonic(), clock().timestamp())
    assert notes[0].title == "Empty note: Session 2025-03-04 10-00" and "Draft note ready" not in notes[0].title
    assert "not discussed" in notes[0].message and notes[0].opens == "/n/S.note.md"
    # not known (a retry that found its earlier note): the ordinary wording
    _, notes = m.with_event("job.done", {**done, "empty": None}, clock.monotonic(), clock().timestamp())
    assert notes[0].title.startswith("Draft note ready: ")


def test_every_running_job_is_listed_with_one_whole_job_percentage() -> None:
    clock = FakeClock()
    jobs = [{"id": "a", "kind": "recording", "stage": "transcribe", "fraction": 0.475, "session": "Session 1"},
            {"id": "b", "kind": "inbox", "stage": "decode", "fraction": 0.05, "session": "intake"}]
    m = TrayModel().with_status({**status(queued=1, running=2, current=jobs[0]), "running": jobs})
    v = view(m, clock.monotonic())
    assert [e.label for e in v.entries(Action.JOB)] == ["Making a note: Session 1, transcribing 48%",
                                                       "Making a note: intake, reading audio 5%"]
    assert v.entry(Action.STATUS).label == "Making 2 notes, 1 more waiting"
    assert v.title == "hushnote: Making 2 notes; 1 more waiting."
    assert all(not e.enabled for e in v.entries(Action.JOB))
    # progress between polls; a job the last poll did not know yet is added
    m, _ = m.with_event("job.progress", {"id": "b", "stage": "transcribe", "fraction": 0.3, "session": "intake"},
                        clock.monotonic())
    m, _ = m.with_event("job.progress", {"id": "c", "stage": "decode", "fraction": 0.0, "session": "late"}, clock.monotonic())
    labels = [e.label for e in view(m, clock.monotonic()).entries(Action.JOB)]
    assert labels == ["Making a note: Session 1, transcribing 48%", "Making a note: intake, transcribing 30%",
                      "Making a note: late, reading audio 0%"]
    m, _ = m.with_event("job.done", {"id": "a", "state": "done", "session": "Session 1"}, clock.monotonic(), clock().timestamp())
    assert [e.arg for e in view(m, clock.monotonic()).entries(Action.JOB)] == ["b", "c"]
    # while recording, the jobs go on and stay listed
    rec = m.with_record_status({"recording": True, "elapsed_s": 1}, clock.monotonic())
    assert view(rec, clock.monotonic()).icon is IconState.RECORDING and len(view(rec, clock.monotonic()).entries(Action.JOB)) == 2


def test_recording_line_shows_mm_ss_and_a_level_that_follows_the_microphone() -> None:
    clock = FakeClock()
    m = connected().with_record_status({"recording": True, "elapsed_s": 0.0, "level_db": -120.0}, clock.monotonic())
    assert view(m, clock.monotonic()).entry(Action.STATUS).label == "Recording 0:00   level ▯▯▯▯▯ no sound"
    clock.advance(seconds=75)
    assert view(m, clock.monotonic()).entry(Action.STATUS).label.startswith("Recording 1:15   level ")
    m, _ = m.with_event("record.level", {"elapsed_s": 76.0, "level_db": -24.0}, clock.monotonic())
    assert view(m, clock.monotonic()).entry(Action.STATUS).label == "Recording 1:16   level ▮▮▮▮▮"
    m, _ = m.with_event("record.level", {"elapsed_s": 77.0, "level_db": -50.0}, clock.monotonic())
    clock.advance(seconds=1.5)
    assert view(m, clock.monotonic()).entry(Action.STATUS).label == "Recording 1:18   level ▮▮▯▯▯"
    m, _ = m.with_event("record.warning", {"message": "The microphone hears nothing."}, clock.monotonic())
    assert view(m, clock.monotonic()).entry(Action.STATUS).label.endswith("(warning)")


@pytest.mark.parametrize(("db", "meter"), [(None, ""), (-120.0, "▯▯▯▯▯ no sound"), (-65.0, "▯▯▯▯▯ no sound"),
                                           (-64.0, "▮▯▯▯▯"), (-55.0, "▮▯▯▯▯"), (-54.9, "▮▮▯▯▯"),
                                           (-30.0, "▮▮▮▮▯"), (-15.0, "▮▮▮▮▮"), (0.0, "▮▮▮▮▮")])
def test_level_meter(db: float | None, meter: str) -> None:
    assert level_meter(db) == meter


def note(session: str, modified: float, status: str = "draft") -> NoteInfo:
    return NoteInfo(path=f"/n/{session}.note.md", session=session, modified=modified, status=status)


def test_last_notes_newest_first_with_open_sign_and_copy() -> None:
    clock = FakeClock()
    notes = [note(f"s{i}", clock().timestamp() + i) for i in range(8)]
    m = connected().with_notes([*notes[:3], note("old signed", clock().timestamp() - 99, "signed"), *notes[3:]])
    v = view(m, clock.monotonic())
    when = time.strftime("%a %H:%M", time.localtime(clock().timestamp() + 7))  # local time, as the clinician reads it
    assert v.entries(Action.NOTE)[0].label == f"s7 (draft, {when})"
    assert [e.label.split()[0] for e in v.entries(Action.NOTE)] == ["s7", "s6", "s5", "s4", "s3"], "newest five"
    heading = v.entry(Action.HEADING)
    assert heading.label == "Last notes:" and heading.separator_before and not heading.enabled
    first = v.entries(Action.NOTE)[0]
    assert [(e.action, e.label, e.enabled, e.arg) for e in first.submenu] == [
        (Action.OPEN_NOTE, "Open", True, "/n/s7.note.md"), (Action.SIGN_NOTE, "Sign…", True, "/n/s7.note.md"),
        (Action.COPY_NOTE, "Copy for the record", True, "/n/s7.note.md")]
    signed = view(connected().with_notes([note("done one", 1.0, "signed")]), clock.monotonic()).entries(Action.NOTE)[0]
    assert signed.label.startswith("done one (signed, ")
    assert [(e.label, e.enabled) for e in signed.submenu] == [("Open", True), ("Signed", False),
                                                              ("Copy for the record", True)]
    locked = view(connected().with_notes([note("locked", 1.0, "encrypted")]), clock.monotonic()).entries(Action.NOTE)[0]
    assert locked.label.startswith("locked (encrypted, ")
    assert [(e.label, e.enabled) for e in locked.submenu] == [("Open", False), ("Sign…", True),
                                                              ("Copy for the record", True)]
    # the notes and the folder are there without the service too
    off = view(TrayModel().with_notes(notes), clock.monotonic())
    assert off.entry(Action.OPEN_NOTE, "/n/s7.note.md").enabled and off.entry(Action.OPEN_NOTES).enabled
    assert off.entry(Action.OPEN_NOTES).label == "Open notes folder"
    assert view(connected(), 0.0).entries(Action.HEADING) == [], "no notes: no heading"


def test_quit_asks_first_only_while_recording() -> None:
    clock = FakeClock()
    assert quit_question(connected()) is None
    assert quit_question(TrayModel()) is None
    rec = connected().with_record_status({"recording": True, "elapsed_s": 5}, clock.monotonic())
    q = quit_question(rec)
    assert isinstance(q, Ask) and q.action is Action.QUIT
    assert "goes on in the hushnote service" in q.message and "does not stop it" in q.message
    assert q.yes == "Quit tray, keep recording" and q.no == "Cancel"


def test_sign_asks_first_and_says_what_signing_does() -> None:
    q = sign_question(note("Session 2025-03-04 10-00", 1.0))
    assert q.action is Action.SIGN_NOTE and q.arg == "/n/Session 2025-03-04 10-00.note.md"
    assert "Session 2025-03-04 10-00" in q.title
    assert "read-only" in q.message and "audio is deleted" in q.message and q.yes == "Sign note"


def test_failure_from_odd_data_still_reads() -> None:
    f = Failure.of({"id": 5})
    assert f == Failure("5", "a recording", "The recording could not be made into a note.", False, None)


def test_sign_and_copy_results_read_as_plain_notices_without_the_path() -> None:
    from hushnote.tray.state import note_command_notice

    path = "/home/t/Notes/Session 1.note.md"
    out = (f"Signed by Dr T: {path}\nIt is now read-only; its sha256 (ab12…) is in the audit log.\n"
           "The audio of job 1a2b is deleted: its key was destroyed, so it can never be recovered.\n")
    n = note_command_notice("sign", path, "Session 1", 0, out, "")
    assert n.title == "Signed: Session 1" and n.message.startswith("It is now read-only;")
    assert "deleted" in n.message and path not in n.message and n.app == "hushnote"
    n = note_command_notice("sign", path, "Session 1", 1, "", f"hushnote: {path} is already signed.\n")
    assert n == Notice("Not signed: Session 1", "Session 1 is already signed.")
    n = note_command_notice("copy", path, "Session 1", 0, "The note is on the clipboard as plain text (312 words, "
                            "via xclip).\n", "")
    assert n.title == "Copied for the record: Session 1" and "312 words" in n.message
    assert note_command_notice("copy", path, "Session 1", 4, "", "").message == "`hushnote copy` did not work."


def test_note_commands_run_the_cli_with_the_trays_settings() -> None:
    import sys
    from pathlib import Path

    from hushnote.daemon.core.config import Config
    from hushnote.tray.system.notecmd import note_command

    note = Path("/n/S 1.note.md")
    assert note_command("sign", note, None) == [sys.executable, "-m", "hushnote.daemon.cli", "sign", "/n/S 1.note.md"]
    cfg = Config({}, "/etc/x.toml")
    assert note_command("copy", note, cfg)[-2:] == ["--config", "/etc/x.toml"]
    with pytest.raises(ValueError):
        note_command("rm", note, None)


def test_a_question_can_be_asked_in_the_menu_where_no_dialog_can_be_shown() -> None:
    rec = connected().with_record_status({"recording": True, "elapsed_s": 5}, 0.0)
    q = quit_question(rec)
    assert q is not None
    v = view(rec.with_question(q), 0.0)
    assert [(e.action, e.label, e.enabled) for e in v.menu[:3]] == [
        (Action.QUESTION, "Quit the hushnote tray?", False), (Action.CONFIRM, "Quit tray, keep recording", True),
        (Action.CANCEL, "Cancel", True)]
    assert v.menu[3].action is Action.RECORD and v.menu[3].separator_before
    assert v.entry(Action.STATUS).label.startswith("Recording 0:05")
    assert view(rec.with_question(q).with_question(None), 0.0).menu == view(rec, 0.0).menu


def labelled(session: str, modified: float, status: str = "draft",
             speakers: str = "Therapist/Client (enrolled voice)") -> NoteInfo:
    return replace(note(session, modified, status), speakers=speakers)


@pytest.mark.parametrize(("last", "label"), [
    (labelled("s2", 2.0), "Swap speakers in the last note"),
    (labelled("s2", 2.0, speakers="Therapist/Client (by channel)"), "Swap speakers in the last note"),
    (labelled("s2", 2.0, speakers="Therapist/Client (swapped by the clinician)"), "Swap speakers in the last note"),
    (labelled("s2", 2.0, speakers="Clinician/Patient (enrolled voice)"), "Swap speakers in the last note"),
    (labelled("s2", 2.0, "signed"), "Swap speakers in the last note (signed notes cannot be changed)"),
    (labelled("s2", 2.0, "encrypted", ""), "Swap speakers in the last note (it is encrypted: use `hushnote "
                                           "speakers swap`)"),
    (labelled("s2", 2.0, speakers="Speaker 1/2 (roles unknown)"),
     "Swap speakers in the last note (its lines have no Therapist/Client roles)"),
    (labelled("s2", 2.0, speakers="one speaker, lines not labelled: only one voice was heard"),
     "Swap speakers in the last note (its lines have no Therapist/Client roles)"),
    (labelled("s2", 2.0, speakers="Therapist/Client 1/Client 2 (enrolled voice)"),
     "Swap speakers in the last note (it has more than two speakers)"),
    (labelled("s2", 2.0, speakers="Speaker 1/2/3 (more voices than expected, roles unknown)"),
     "Swap speakers in the last note (its lines have no Therapist/Client roles)"),
    (note("s2", 2.0), "Swap speakers in the last note (its lines have no Therapist/Client roles)"),
])
def test_swap_speakers_is_offered_only_for_a_labelled_draft_as_the_last_note(last: NoteInfo, label: str) -> None:
    older = labelled("s1", 1.0)  # swappable, but not the last note: it does not count
    v = view(connected().with_notes([older, last]), 0.0)
    [swap] = v.entries(Action.SWAP_NOTE)
    assert swap.label == label and swap.arg == "/n/s2.note.md"
    assert swap.enabled is (label == "Swap speakers in the last note")
    assert v.menu[v.menu.index(swap) - 1].action is Action.NOTE, "right after the last notes"
    assert not view(connected().with_notes([last]).with_busy("Signing the note…"), 0.0).entry(Action.SWAP_NOTE).enabled
    assert view(connected(), 0.0).entries(Action.SWAP_NOTE) == [], "no notes: no swap"


def test_swap_asks_first_and_says_what_happened_in_plain_words() -> None:
    from hushnote.tray.state import note_command_notice, swap_question

    q = swap_question(labelled("Session 1", 1.0))
    assert q.action is Action.SWAP_NOTE and q.arg == "/n/Session 1.note.md" and q.yes == "Swap speakers"
    assert q.title == "Swap Therapist and Client in Session 1?" and "drafted again" in q.message
    path = "/home/t/Notes/Session 1.note.md"
    out = (f"Speakers:   Therapist/Client (swapped by the clinician)\nTranscript: /home/t/Notes/Session 1.transcript.md\n"
           f"Note:       {path} (drafted again)\n")
    assert note_command_notice("swap", path, "Session 1", 0, out, "") == Notice(
        "Speakers swapped: Session 1", "Therapist and Client swapped in Session 1; the note was drafted again.")
    beside = out.replace("(drafted again)", "(a new draft: Session 1.note.md is signed and was left as it is)")
    n = note_command_notice("swap", path, "Session 1", 0, beside, "")
    assert n.title == "Speakers swapped in a new draft: Session 1" and "left as it is" in n.message
    err = (f"hushnote: The transcript's speakers cannot be swapped (Speaker 1/2 (roles unknown)): only two known "
           f"roles can be. Swap works on a transcript labelled like Therapist/Client. ({path})\n")
    n = note_command_notice("swap", path, "Session 1", 3, "", err)
    assert n.title == "Speakers not swapped: Session 1" and "cannot be swapped" in n.message and path not in n.message


def test_swap_runs_hushnote_speakers_swap_and_never_on_a_signed_note(tmp_path: Any) -> None:
    import sys

    from hushnote.tray.system.notecmd import note_command, run_note_command

    signed = tmp_path / "Session 1.note.md"
    signed.write_text('---\nstatus: "signed"\nspeakers: "Therapist/Client (by channel)"\n---\n# Note\n')
    assert note_command("swap", signed, None) == [sys.executable, "-m", "hushnote.daemon.cli", "speakers", "swap",
                                                  str(signed)]
    n = run_note_command("swap", signed, None)  # refused before any command runs: no transcript is needed
    assert n.title == "Speakers not swapped: Session 1"
    assert n.message.startswith("Session 1 is signed. A signed note cannot be changed.") and "unsign" in n.message
