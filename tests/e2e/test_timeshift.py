"""The time-shifted run (`make test-timeshift`) really moves the wall clock, in this process and
in the Python processes it starts; otherwise it would prove nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

SHIFT = os.environ.get("JOB_ALERTS_TIME_SHIFT_DAYS")

pytestmark = pytest.mark.skipif(not SHIFT, reason="only in the time-shifted run")


def _real_now() -> datetime:
    import time_machine

    return datetime.fromtimestamp(time_machine.escape_hatch.time.time(), UTC)


def test_timeshift_moves_this_process_and_its_children() -> None:
    assert SHIFT is not None
    expected = timedelta(days=float(SHIFT))
    # Given the shifted run, When this process and a child read the wall clock
    child = subprocess.run(
        [sys.executable, "-c", "import datetime; print(datetime.datetime.now(datetime.UTC))"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    here = datetime.now(UTC) - _real_now()
    there = datetime.fromisoformat(child.stdout.strip()) - _real_now()
    # Then both are ahead by the shift (give or take the time the child took to start)
    for offset in (here, there):
        assert abs(offset - expected) < timedelta(minutes=5), offset
