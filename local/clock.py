"""A clock that moves only when told: the one time source a test, the demo or the benchmark
shares between the simulator, the monitor and its own fixtures."""

from __future__ import annotations

from datetime import datetime, timedelta

from job_alerts.timeutil import as_utc


class ManualClock:
    """Callable like `job_alerts.timeutil.system_clock`; `now` is the current (aware, UTC) time."""

    def __init__(self, start: datetime) -> None:
        self.now = as_utc(start)

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = as_utc(moment)

    def advance(self, minutes: float = 0, *, seconds: float = 0) -> datetime:
        self.now += timedelta(minutes=minutes, seconds=seconds)
        return self.now
