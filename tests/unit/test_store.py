"""The SQLite job store: ordering, leases, recovery, attempts, retry/cancel/pause (concurrent claims: in
tests/integration/test_store_concurrency.py).

A fake clock drives every timestamp: no sleeps.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from hushnote.daemon.jobs.store import MAX_ATTEMPTS, JobConflict, JobNotFound, Store, iso

from tests.support.clock import FakeClock
from tests.support.jobs import queued_job


@pytest.fixture()
def store(tmp_path: Path, clock: FakeClock) -> Store:
    s = Store(tmp_path / "data" / "queue.db", clock=clock)
    yield s  # type: ignore[misc]
    s.close()


def test_priority_then_fifo(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    a = queued_job(store, tmp_path, "a.wav")
    clock.advance(seconds=1)
    b = queued_job(store, tmp_path, "b.wav")
    r = queued_job(store, tmp_path, "r.wav", kind="recording")
    c = queued_job(store, tmp_path, "c.wav")
    order = []
    while (job := store.claim("w", 60)) is not None:
        order.append(job.id)
    assert order == [r, a, b, c]
    assert store.counts()["running"] == 4


def test_stems_reserved_uniquely_and_never_over_existing_files(store: Store, tmp_path: Path) -> None:
    notes = tmp_path / "Notes"
    notes.mkdir()
    (notes / "session.note.md").write_text("someone else's note")
    j1 = store.begin_ingest("inbox", tmp_path / "session.m4a", "session.m4a", notes)
    j2 = store.begin_ingest("inbox", tmp_path / "x" / "session.m4a", "session.m4a", notes)
    j3 = store.begin_ingest("inbox", tmp_path / "weird\nname.wav", "weird\nname.wav", notes)
    assert (j1.stem, j2.stem) == ("session-2", "session-3")
    assert j3.stem == "weird_name"
    assert j1.store_path.endswith(f"{j1.id}.m4a")


def test_lease_expiry_and_recovery(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    jid = queued_job(store, tmp_path, "a.wav")
    job = store.claim("w1", lease_s=30)
    assert job is not None and job.id == jid and job.lease_owner == "w1"
    clock.advance(seconds=20)
    assert store.recover_running(expired_only=True) == []  # lease still valid
    assert store.renew(jid, "w1", 30)
    assert not store.renew(jid, "someone-else", 30)
    clock.advance(seconds=29)
    assert store.recover_running(expired_only=True) == []
    clock.advance(seconds=2)
    assert store.recover_running(expired_only=True) == []  # back to queued, not failed
    j = store.get(jid)
    assert j is not None and j.state == "queued" and j.attempts == 1 and j.lease_owner is None


def test_attempts_exhausted_fail_after_three(store: Store, tmp_path: Path) -> None:
    jid = queued_job(store, tmp_path, "a.wav")
    failed = []
    for _ in range(MAX_ATTEMPTS):
        assert store.claim("w", 60) is not None
        failed = store.recover_running()  # a crash each time
    assert [j.id for j in failed] == [jid]
    j = store.get(jid)
    assert j is not None and j.state == "failed" and j.attempts == 3
    assert j.last_error and j.last_error.startswith("interrupted:")
    assert "a.wav" not in j.last_error
    assert store.claim("w", 60) is None


def test_fail_attempt_and_release(store: Store, tmp_path: Path) -> None:
    jid = queued_job(store, tmp_path, "a.wav")
    store.claim("w", 60)
    assert store.release(jid, "w")
    j = store.get(jid)
    assert j is not None and j.state == "queued" and j.attempts == 0  # release counts no attempt
    store.claim("w", 60)
    assert store.fail_attempt(jid, "internal: RuntimeError") == "queued"
    store.claim("w", 60)
    assert store.fail_attempt(jid, "internal: RuntimeError") == "queued"
    store.claim("w", 60)
    assert store.fail_attempt(jid, "internal: RuntimeError") == "failed"
    assert store.fail_attempt(jid, "x") == ""  # not running any more


def test_retry_cancel_and_conflicts(store: Store, tmp_path: Path) -> None:
    jid = queued_job(store, tmp_path, "a.wav")
    Path(store.get(jid).store_path).write_bytes(b"RIFF")  # type: ignore[union-attr]
    with pytest.raises(JobConflict):
        store.retry(jid)  # queued: nothing to retry
    assert store.cancel(jid).state == "cancelled"
    with pytest.raises(JobConflict):
        store.cancel(jid)
    assert store.retry(jid).state == "queued"
    store.claim("w", 60)
    with pytest.raises(JobConflict):
        store.cancel(jid)  # running
    store.fail(jid, "input_error: not usable")
    job = store.retry(jid)
    assert job.state == "queued" and job.attempts == 0 and job.last_error is None
    with pytest.raises(JobNotFound):
        store.retry("nope")
    with pytest.raises(JobNotFound):
        store.cancel("nope")


def test_retry_refused_without_audio_or_for_rejected_files(store: Store, tmp_path: Path) -> None:
    jid = queued_job(store, tmp_path, "a.wav")
    store.claim("w", 60)
    store.fail(jid, "input_error")
    with pytest.raises(JobConflict, match="no longer kept"):
        store.retry(jid)
    rej = store.add_rejected(tmp_path / "notes.docx", "notes.docx", tmp_path / "failed" / "notes.docx", tmp_path / "Notes", "not_audio: x")
    assert rej.state == "failed" and rej.rejected
    with pytest.raises(JobConflict, match="not a usable audio"):
        store.retry(rej.id)
    assert store.failed_audio_kept() == 1  # the rejected file is not retention's business
    assert [j.id for j in store.unfinished_rejects()] == [rej.id]
    store.finish_reject(rej.id)
    assert store.unfinished_rejects() == []


def test_pause_is_persisted(tmp_path: Path, clock: FakeClock) -> None:
    with Store(tmp_path / "q.db", clock=clock) as s:
        assert not s.is_paused()
        s.set_paused(True)
    with Store(tmp_path / "q.db", clock=clock) as s:
        assert s.is_paused()
        s.set_paused(False)
        assert not s.is_paused()


def test_reconcile_ingesting(store: Store, tmp_path: Path) -> None:
    notes = tmp_path / "Notes"
    inbox = tmp_path / "Inbox"
    inbox.mkdir()
    # 1: crash after the row, before the move -> the file is still in the inbox: row dropped
    (inbox / "one.wav").write_bytes(b"1")
    j1 = store.begin_ingest("inbox", inbox / "one.wav", "one.wav", notes)
    # 2: crash after the move, before "queued" -> queued
    (inbox / "two.wav").write_bytes(b"22")
    j2 = store.begin_ingest("inbox", inbox / "two.wav", "two.wav", notes)
    (inbox / "two.wav").replace(j2.store_path)
    # 3: cross-device copy finished, inbox copy not yet removed -> queued, inbox copy removed
    (inbox / "three.wav").write_bytes(b"333")
    j3 = store.begin_ingest("inbox", inbox / "three.wav", "three.wav", notes)
    Path(j3.store_path).write_bytes(b"333")
    out = store.reconcile_ingesting()
    assert out == {j1.id: "dropped", j2.id: "queued", j3.id: "queued"}
    assert (inbox / "one.wav").exists() and not (inbox / "three.wav").exists()
    assert store.get(j1.id) is None
    assert store.counts()["queued"] == 2
    assert store.ingesting() == []


def test_timestamps_come_from_the_clock(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    jid = queued_job(store, tmp_path, "a.wav")
    j = store.get(jid)
    assert j is not None and j.created == iso(clock.t) == "2025-01-06T09:00:00.000000+00:00"
    assert set(j.public()) == {"id", "kind", "state", "priority", "attempts", "created", "updated", "error",
                               "warning", "reason", "session", "retryable"}


def test_public_shape_names_the_session_and_the_plain_reason(store: Store, tmp_path: Path) -> None:
    jid = queued_job(store, tmp_path, "Monday intake.wav")
    job = store.get(jid)
    assert job is not None
    pub = job.public()
    assert pub["session"] == "Monday intake" and pub["reason"] is None and not pub["retryable"]
    assert store.claim("w", 60) is not None
    store.fail(jid, "too_little_speech: the recording could not be made into a note")
    job = store.get(jid)
    assert job is not None
    pub = job.public()
    assert pub["reason"] == "There is too little speech in the recording to write a note."
    assert pub["error"].startswith("too_little_speech") and pub["retryable"]
    assert "/" not in str(pub), "no paths"


def test_recent_failures_newest_first_within_the_window(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    ids = []
    for name in ("a.wav", "b.wav", "c.wav"):
        jid = queued_job(store, tmp_path, name)
        assert store.claim("w", 60) is not None
        store.fail(jid, "input_error: x")
        ids.append(jid)
        clock.advance(days=3)
    done = queued_job(store, tmp_path, "d.wav")
    assert store.claim("w", 60) is not None
    store.complete(done, note_path=tmp_path / "n", transcript_path=tmp_path / "t", audio_path=None)
    since = clock.t - datetime.timedelta(days=7)  # a failed 9 days ago, b 6, c 3
    assert [j.id for j in store.recent_failed(since, 10)] == [ids[2], ids[1]]
    assert [j.id for j in store.recent_failed(since, 1)] == [ids[2]]


def test_plain_reasons_never_show_the_internal_code() -> None:
    from hushnote.daemon.jobs.reasons import REASONS, UNKNOWN, error_code, plain_reason

    assert plain_reason("not_audio: the file is not usable audio") == "The file is not audio (or is damaged)."
    assert plain_reason("too_little_speech: the recording could not be made into a note") == \
        "There is too little speech in the recording to write a note."
    assert plain_reason("internal: an unexpected RuntimeError while processing") == \
        "Something unexpected went wrong while making the note."
    assert plain_reason("brand_new_code: x") == UNKNOWN
    assert plain_reason(None) is None and plain_reason("") is None
    assert error_code("interrupted: processing stopped 3 times") == "interrupted"
    for code, text in REASONS.items():
        assert "_" not in text and text.endswith(".") and text[0].isupper(), code
