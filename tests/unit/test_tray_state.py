"""The tray's state machine and icons: pure, no service, no display."""

from __future__ import annotations

from typing import Any

import pytest
from hushnote.tray.icons import SIZE, icon_image
from hushnote.tray.state import (
    JOB_FAILED,
    NOTE_READY,
    SERVICE_LOST_WHILE_RECORDING,
    START_LABEL,
    Action,
    IconState,
    TrayModel,
    format_elapsed,
    view,
)


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
    assert v.entry(Action.PAUSE).label == "Pause processing" and v.entry(Action.PAUSE).enabled
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
    assert v.entry(Action.STATUS).label == "Recording for 1 minute"
    assert v.entry(Action.RECORD).enabled and v.entry(Action.RECORD).default
    # between service updates the clock keeps going
    assert "Recording 1:11" in view(m, now=110.0).title
    # a level event resets the base
    m2, notes = m.with_event("record.level", {"elapsed_s": 3725, "level_db": -20}, now=200.0)
    assert notes == []
    assert "Recording 1:02:05" in view(m2, now=200.5).title
    assert view(m2, now=200.5).entry(Action.STATUS).label == "Recording for 62 minutes"
    # the menu does not change from one second to the next (it would flicker while open)
    assert view(m, now=100.0).menu == view(m, now=105.0).menu


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
    assert v.entry(Action.STATUS).label == "Working 42%, 3 in queue"
    # progress events between polls move the percentage
    m, _ = m.with_event("job.progress", {"id": "j1", "stage": "draft", "fraction": 0.9}, now=0.0)
    v = view(m, 0.0)
    assert "90%" in v.title and "drafting" in v.title
    # only waiting, nothing running yet
    v = view(TrayModel().with_status(status(queued=1)), 0.0)
    assert v.icon is IconState.PROCESSING and "1 recording waiting" in v.title


def test_paused() -> None:
    m = connected(state="paused", queued=3)
    v = view(m, 0.0)
    assert v.icon is IconState.PAUSED
    assert "paused" in v.title and "3 recordings waiting" in v.title
    assert v.entry(Action.PAUSE).label == "Resume processing"
    # state events flip it without waiting for a poll
    m, _ = m.with_event("state", {"state": "running"}, now=0.0)
    v = view(m, 0.0)
    assert v.icon is IconState.PROCESSING and v.entry(Action.PAUSE).label == "Pause processing"


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
