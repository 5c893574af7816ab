"""Moves the wall clock of every Python process started with this folder on PYTHONPATH forward by
JOB_ALERTS_TIME_SHIFT_DAYS days (`make test-timeshift`; CI runs it). Monotonic time is left
alone, so timeouts and sleeps behave. A test that passes only on the day it was written fails
here."""

import os

_days = os.environ.get("JOB_ALERTS_TIME_SHIFT_DAYS")
if _days:
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(_days)), tick=True).start()
