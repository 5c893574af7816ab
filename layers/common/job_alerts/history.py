"""What the monitor remembers of one collector between runs: when its recent launches (jobs
started together) began (its cadence, for the dead-collector rule) and the output of its recent
settled jobs (its baseline, for the rules that compare a job with the collector's own past). Pure
values: the store keeps them in one small item per collector, the decide stage extends them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import Any

from job_alerts.timeutil import iso, parse_iso

# A baseline is the median of at most this many previous settled jobs, and needs at least
# BASELINE_MIN_JOBS of them; a cadence is learned from the starts of at most CADENCE_MAX_TIMES
# recent launches, and needs at least CADENCE_MIN_INTERVALS gaps between them.
BASELINE_MAX_JOBS = 20
BASELINE_MIN_JOBS = 5
CADENCE_MAX_TIMES = 21
CADENCE_MIN_INTERVALS = 3

# Jobs created less than this after a launch's first job belong to that launch. A script or a
# schedule starts its batch within a minute or two (60 jobs within one minute were seen), and 5
# minutes leaves a slow trigger loop room; yet it hides no cadence worth judging, since a
# collector that really starts a job every few minutes is held to collector_silent's 60-minute
# floor either way (at the default factor). A launch is anchored at its first job, not chained
# job to job, so its start alone stands for it: the kept starts, read back or extended by a later
# listing, group every job into the same launches (a chain of jobs 4 minutes apart could only be
# told from several launches by keeping all of its jobs).
LAUNCH_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class PastJob:
    """One settled job as a baseline remembers it."""

    job_id: str
    lines: int | None

    def to_list(self) -> list[Any]:
        return [self.job_id, self.lines]


@dataclass(frozen=True)
class Baseline:
    """A collector's typical output: the median of its previous settled jobs, and which."""

    median_lines: float
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class Cadence:
    """How often a collector usually launches jobs, and when it last created one; `intervals`
    counts the launch intervals the interval is the median of."""

    interval: timedelta
    last_created: datetime
    intervals: int


@dataclass(frozen=True)
class History:
    """Creation times that stand for a collector's recent launches (when each started, and when
    its last job was created) and its recent settled jobs, oldest first, each bounded (the item
    stays a few KB whatever the collector does)."""

    created: tuple[datetime, ...] = ()
    settled: tuple[PastJob, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        # Whatever it is built from (job creation times, or what an earlier History kept of
        # them): in order, each once, the starts of the CADENCE_MAX_TIMES most recent launches
        # and the last creation time; the most recent BASELINE_MAX_JOBS settled jobs.
        object.__setattr__(self, "created", _kept(self.created))
        object.__setattr__(self, "settled", tuple(self.settled)[-BASELINE_MAX_JOBS:])

    # ---- reading ---------------------------------------------------------------------------

    @property
    def last_created(self) -> datetime | None:
        return self.created[-1] if self.created else None

    def launch_starts(self) -> tuple[datetime, ...]:
        return _launch_starts(self.created)

    def cadence(self) -> Cadence | None:
        """The median gap between launch starts, or None with fewer than CADENCE_MIN_INTERVALS
        of them to learn from. From start to start: a launch's start never moves as more of its
        jobs are listed (a burst listed half by one run and half by the next starts at its first
        job either way, while its end moves), so an interval is final once both starts are seen;
        the silence itself is counted from the last job, so a long launch delays an alarm rather
        than hastening it."""
        gaps = [b - a for a, b in pairwise(self.launch_starts())]
        if len(gaps) < CADENCE_MIN_INTERVALS or self.last_created is None:
            return None
        typical = timedelta(seconds=median(gap.total_seconds() for gap in gaps))
        return Cadence(typical, self.last_created, len(gaps))

    def baseline(self, exclude: str | None = None) -> Baseline | None:
        """The median output of the last BASELINE_MAX_JOBS settled jobs that reported lines
        (not counting `exclude`, the job being judged), or None with fewer than
        BASELINE_MIN_JOBS of them. A median, so one odd job does not move it."""
        known = [p for p in self.settled if p.lines is not None and p.job_id != exclude]
        recent = known[-BASELINE_MAX_JOBS:]
        if len(recent) < BASELINE_MIN_JOBS:
            return None
        return Baseline(
            float(median(p.lines for p in recent if p.lines is not None)),
            tuple(p.job_id for p in recent),
        )

    def knows(self, job_id: str) -> bool:
        return any(p.job_id == job_id for p in self.settled)

    # ---- extending (each returns a new History) ---------------------------------------------

    def with_created(self, times: Iterable[datetime]) -> History:
        """Add job creation times (duplicates and order do not matter). A history holding as many
        launches as it keeps may have let older ones go, and does not take them back from a
        listing that still shows their jobs: grouped from whichever of a launch's jobs the
        lookback still shows, they could swallow the start of the oldest launch kept."""
        added = tuple(times)
        if len(self.launch_starts()) >= CADENCE_MAX_TIMES:
            added = tuple(moment for moment in added if moment >= self.created[0])
        return replace(self, created=(*self.created, *added))

    def with_settled(self, job: PastJob) -> History:
        """Add a settled job (once: a job already remembered is not added again)."""
        if self.knows(job.job_id):
            return self
        return replace(self, settled=(*self.settled, job))

    # ---- storage form ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": [iso(moment) for moment in self.created],
            "settled": [past.to_list() for past in self.settled],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, version: int = 0) -> History:
        """Read the stored form; anything unreadable in it is dropped, not fatal (a history
        only sharpens judgement, losing part of it must not stop a run)."""
        if not data:
            return cls(version=version)
        moments = (_moment(text) for text in data.get("created") or ())
        pasts = (_past_job(entry) for entry in data.get("settled") or ())
        return cls(
            created=tuple(moment for moment in moments if moment is not None),
            settled=tuple(past for past in pasts if past is not None),
            version=version,
        )


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def _past_job(entry: Any) -> PastJob | None:
    if not isinstance(entry, list | tuple) or len(entry) != 2 or not isinstance(entry[0], str):
        return None
    raw = entry[1]
    if raw is None or isinstance(raw, bool):
        return PastJob(entry[0], None)
    try:
        # DynamoDB hands numbers back as Decimal.
        return PastJob(entry[0], int(raw))
    except (TypeError, ValueError):
        return PastJob(entry[0], None)


def _launch_starts(ordered: Sequence[datetime]) -> tuple[datetime, ...]:
    """When each launch (see LAUNCH_WINDOW) in these creation times, in order, started."""
    starts: list[datetime] = []
    for moment in ordered:
        if not starts or moment - starts[-1] >= LAUNCH_WINDOW:
            starts.append(moment)
    return tuple(starts)


def _kept(times: Iterable[datetime]) -> tuple[datetime, ...]:
    """What a History keeps of creation times: the starts of the CADENCE_MAX_TIMES most recent
    launches and the last time (for the silence since), in order. Starts, not jobs, so a burst
    of 60 jobs takes one place and does not push the launches before it out; whole launches, and
    each by its first job, so no launch's start moves later for being partly known."""
    ordered = sorted(set(times))
    if not ordered:
        return ()
    starts = _launch_starts(ordered)[-CADENCE_MAX_TIMES:]
    return tuple(sorted({*starts, ordered[-1]}))


EMPTY_HISTORY = History()


def learned(
    history: History, silence_limit: timedelta | None, min_share: float | None
) -> dict[str, Any]:
    """What the monitor has learned of a collector, for `job-alerts thresholds --collector`: its
    cadence and the silence it allows, its baseline and the output below which a job warns, or
    why each is not judged yet."""
    cadence = history.cadence()
    baseline = history.baseline()
    gaps = max(len(history.launch_starts()) - 1, 0)
    reported = sum(1 for past in history.settled if past.lines is not None)
    return {
        "cadence": None
        if cadence is None
        else {
            "interval_minutes": round(cadence.interval.total_seconds() / 60, 1),
            "intervals": cadence.intervals,
            "last_job_created": iso(cadence.last_created),
        },
        "cadence_needs": None if cadence else f"{gaps} of {CADENCE_MIN_INTERVALS} intervals",
        "silent_after_minutes": None
        if silence_limit is None
        else round(silence_limit.total_seconds() / 60, 1),
        "baseline": None
        if baseline is None
        else {
            "median_lines": baseline.median_lines,
            "jobs": list(baseline.job_ids),
            "warns_below_lines": None if min_share is None else baseline.median_lines * min_share,
        },
        "baseline_needs": None if baseline else f"{reported} of {BASELINE_MIN_JOBS} settled jobs",
    }


__all__ = [
    "BASELINE_MAX_JOBS",
    "BASELINE_MIN_JOBS",
    "CADENCE_MAX_TIMES",
    "CADENCE_MIN_INTERVALS",
    "EMPTY_HISTORY",
    "LAUNCH_WINDOW",
    "Baseline",
    "Cadence",
    "History",
    "PastJob",
    "learned",
]
