"""The one background-thread base: named, started, stopped by its event and wake-up, joined; a failing loop
is logged by class and place, never by its message (which may hold PHI)."""

from __future__ import annotations

import logging
import queue
import threading

import pytest
from hushnote.daemon.core.threads import BackgroundThread, where


def test_stop_wakes_a_blocked_loop_and_join_reports_the_end() -> None:
    q: queue.Queue[object] = queue.Queue()
    seen: list[object] = []
    stop = object()

    def loop() -> None:
        while True:
            item = q.get()  # blocks for ever unless woken
            if item is stop:
                return
            seen.append(item)

    t = BackgroundThread("hn-test-loop", loop, wake=lambda: q.put(stop)).start()
    q.put(1)
    assert "hn-test-loop" in [x.name for x in threading.enumerate()]
    assert t.alive and not t.join(0.05)  # still running: join says so
    assert t.close()
    assert not t.alive and t.stopping.is_set() and seen == [1]


def test_context_manager_starts_and_joins() -> None:
    ran = threading.Event()
    with BackgroundThread("hn-test-ctx", ran.set) as t:
        assert t.started
    assert ran.is_set() and not t.alive


def test_subclass_run_and_a_shared_stopping_event() -> None:
    shared = threading.Event()

    class Spinner(BackgroundThread):
        def run(self) -> None:
            while not self.stopping.wait(0.01):
                pass

    a = Spinner("hn-a", stopping=shared).start()
    b = Spinner("hn-b", stopping=shared).start()
    a.stop()  # one stop ends both: they watch one event
    assert a.join(5) and b.join(5)


def test_an_error_in_the_loop_is_logged_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    def loop() -> None:
        raise ValueError("Jane Doe said something private")

    with caplog.at_level(logging.ERROR, logger="hushnote"):
        t = BackgroundThread("hn-fail", loop).start()
        assert t.join(5)
    assert "hn-fail" in caplog.text and "ValueError" in caplog.text
    assert "test_core_threads.py:" in caplog.text and "in loop" in caplog.text
    assert "Jane" not in caplog.text and "private" not in caplog.text


def test_a_thread_never_waits_for_itself_and_starts_once() -> None:
    result: list[bool] = []
    holder: list[BackgroundThread] = []
    ready = threading.Event()

    def loop() -> None:
        ready.wait(5)
        result.append(holder[0].join(5))  # would deadlock for 5 s and report False if it waited on itself

    t = BackgroundThread("hn-self", loop)
    holder.append(t)
    t.start()
    ready.set()
    assert t.join(5) and result == [False]  # returned at once: not ended (it is the caller)
    with pytest.raises(RuntimeError):
        t.start()
    assert BackgroundThread("hn-never").join(0) is True  # never started: nothing to wait for


def test_where_names_the_place_only() -> None:
    assert where(ValueError("x")) == "?"  # never raised: no traceback
    try:
        {}["secret key"]  # noqa: B018
    except KeyError as exc:
        w = where(exc)
    assert w.startswith("test_core_threads.py:") and "secret" not in w
