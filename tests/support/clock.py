"""One controllable clock for everything time-based: no sleeps in the unit tier.

Call it for an aware wall-clock ``datetime`` (the job store, retention, the audit log take ``clock=``);
``monotonic()`` gives seconds on the same timeline (the inbox watcher takes ``clock=clock.monotonic``).
``advance(seconds=…, days=…)`` moves both; ``tick`` (optional) is added at every wall-clock read, for
logs that need strictly increasing timestamps.
"""

from __future__ import annotations

import datetime as dt

START = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, start: dt.datetime = START, *, tick: dt.timedelta | None = None) -> None:
        self.t = start
        self._start = start
        self.tick = tick

    def __call__(self) -> dt.datetime:
        if self.tick is not None:
            self.t += self.tick
        return self.t

    def monotonic(self) -> float:
        return (self.t - self._start).total_seconds()

    def advance(self, **kw: float) -> None:
        self.t += dt.timedelta(**kw)
