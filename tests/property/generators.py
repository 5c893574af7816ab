"""Hypothesis strategies of the property test: the monitor's configuration, the account's
collectors, every job shape the API reference allows, and each kind of fault (one call, a few,
or until cleared)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.property.bright_data import (
    FAULT_KINDS,
    LOG_KEYS,
    ODD_LOGS,
    RATE_STYLES,
    STATUSES,
    TIME_STYLES,
    ApiFault,
    CollectorSpec,
    JobShape,
    JobSpec,
)
from tests.property.injectors import CANCEL_REASONS, DATA_OPERATIONS, Cut, DynamoFault, SnsFault

COLLECTORS = ("c_alpha", "c_beta", "c_gamma")
# A mistyped id in Collectors: not in the account.
TYPO = "c_alpah"
# Where faults land, the monitor's main reads weighted up: a job's log, a collector's listing.
JOB_ENDPOINTS = ("log", "log", "log", "hp_errors", "rerun")
ANY_ENDPOINTS = ("collectors_list", "collector_jobs", "collector_jobs", "log", "log", "hp_errors")


@dataclass(frozen=True)
class Config:
    """The deployment the monitor runs as, and the account it watches."""

    alert_mode: str
    alarm_after: int
    alarm_window: int
    repeat_after_minutes: int
    max_fails: int | None
    watch: str  # all (Collectors empty) | some | typo (some, plus a mistyped id)
    unknown_collector: str  # what listing a collector the account lacks answers: 400|404|empty
    rerun: bool
    collectors: tuple[CollectorSpec, ...]
    budget_seconds: int  # the Lambda's time per run

    @property
    def watched(self) -> tuple[str, ...]:
        if self.watch == "all":
            return ()
        return ("c_alpha", "c_beta", *((TYPO,) if self.watch == "typo" else ()))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        flags = ", ".join(
            f"{c.collector_id}(name={c.name!r}, active={c.active!r}, last_run={c.last_run})"
            for c in self.collectors
        )
        return (
            f"Config({self.alert_mode}, alarm {self.alarm_after}/{self.alarm_window}, "
            f"repeat={self.repeat_after_minutes}, max_fails={self.max_fails}, "
            f"watch={self.watch}, unknown_collector={self.unknown_collector}, "
            f"rerun={self.rerun}, budget={self.budget_seconds}s, [{flags}])"
        )


def collector_specs() -> st.SearchStrategy[tuple[CollectorSpec, ...]]:
    one = st.builds(
        CollectorSpec,
        collector_id=st.just(""),
        name=st.sampled_from(["amazon-products", None, ""]),
        active=st.sampled_from([True, False, None, "yes"]),
        last_run=st.sampled_from(["live", "absent", "stuck", "epoch"]),
    )
    return st.tuples(one, one, one).map(
        lambda specs: tuple(
            CollectorSpec(cid, s.name, s.active, s.last_run)
            for cid, s in zip(COLLECTORS, specs, strict=True)
        )
    )


def configs() -> st.SearchStrategy[Config]:
    alarm = st.sampled_from([(1, 1), (2, 3)])
    return st.builds(
        lambda mode, window, **rest: Config(
            alert_mode=mode, alarm_after=window[0], alarm_window=window[1], **rest
        ),
        mode=st.sampled_from(["state", "every_job"]),
        window=alarm,
        repeat_after_minutes=st.sampled_from([0, 60]),
        max_fails=st.sampled_from([None, 5]),
        watch=st.sampled_from(["all", "some", "typo"]),
        unknown_collector=st.sampled_from(["400", "404", "empty"]),
        rerun=st.booleans(),
        collectors=collector_specs(),
        budget_seconds=st.sampled_from([300, 120, 900]),
    )


def job_shapes() -> st.SearchStrategy[JobShape]:
    return st.builds(
        JobShape,
        key_case=st.sampled_from(["upper", "lower", "mixed"]),
        missing=st.frozensets(st.sampled_from(LOG_KEYS), max_size=4),
        status_case=st.sampled_from(["lower", "capital", "upper"]),
        rate=st.sampled_from(RATE_STYLES),
        counts_as_text=st.booleans(),
        times=st.sampled_from(TIME_STYLES),
        collector_field=st.sampled_from(["same", "absent", "odd"]),
        junk=st.booleans(),
        listing_queued=st.sampled_from(["iso", "absent", "odd"]),
    )


@dataclass(frozen=True)
class JobChange:
    """progress / pause (amount: percent of inputs done), inputs_fail (amount: how many), or
    vanish (404 from now on)."""

    kind: str
    amount: int = 0

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        return f"JobChange({self.kind}{f' {self.amount}' if self.amount else ''})"


def job_changes() -> st.SearchStrategy[JobChange]:
    return st.one_of(
        st.builds(JobChange, st.sampled_from(["progress", "pause"]), st.sampled_from([10, 50])),
        st.builds(JobChange, st.just("inputs_fail"), st.sampled_from([1, 7, 40])),
        st.just(JobChange("vanish")),
    )


def job_specs(*, trouble: bool = False) -> st.SearchStrategy[JobSpec]:
    statuses = ("failed", "cancelled", "canceled", "queued", "building") if trouble else STATUSES
    return st.builds(
        JobSpec,
        collector=st.sampled_from(COLLECTORS),
        realtime=st.booleans(),
        status=st.sampled_from(statuses),
        inputs=st.sampled_from([0, 1, 10, 100]),
        success_share=st.sampled_from([1.0, 0.95, 0.5, 0.0]),
        finished=st.booleans(),
        shape=st.one_of(st.just(JobShape()), job_shapes()),
    )


def _span() -> st.SearchStrategy[tuple[bool, int]]:
    """Intermittent (one call, or a few) or lasting (until cleared)."""
    return st.one_of(st.tuples(st.just(False), st.integers(1, 3)), st.just((True, 1)))


def api_faults(endpoints: tuple[str, ...] = ANY_ENDPOINTS) -> st.SearchStrategy[ApiFault]:
    def one(endpoint: str) -> st.SearchStrategy[ApiFault]:
        return st.builds(
            lambda kind, span, seconds, variant: ApiFault(
                endpoint=endpoint,
                kind=kind,
                lasting=span[0],
                times=span[1],
                seconds=seconds if kind == "slow" else 0,
                variant=variant if kind == "odd_log" else "",
            ),
            kind=st.sampled_from(FAULT_KINDS[endpoint]),
            span=_span(),
            seconds=st.sampled_from([5, 25, 45, 120]),
            variant=st.sampled_from(ODD_LOGS),
        )

    return st.sampled_from(endpoints).flatmap(one)


def dynamo_faults() -> st.SearchStrategy[DynamoFault]:
    cancel = st.builds(
        lambda reason, which, pick, span: DynamoFault(
            "cancel", span[0], span[1], reason=reason, which=which, pick=pick
        ),
        reason=st.sampled_from(CANCEL_REASONS),
        which=st.sampled_from(["alert", "alert", "alert", "sent", "rerun", "any"]),
        pick=st.integers(0, 4),
        span=_span(),
    )
    rival = st.builds(
        lambda pick, whole, times: DynamoFault("rival", False, times, pick=pick, whole=whole),
        pick=st.integers(0, 4),
        whole=st.booleans(),
        times=st.integers(1, 2),
    )
    throttle = st.builds(
        lambda op, span: DynamoFault("throttle", span[0], span[1], op=op),
        op=st.sampled_from(sorted(DATA_OPERATIONS - {"scan"})),
        span=_span(),
    )
    # Cancellations are what the record stage must get right: drawn half the time.
    return st.one_of(cancel, cancel, rival, throttle)


def sns_faults() -> st.SearchStrategy[SnsFault]:
    return st.builds(
        lambda kind, span: SnsFault(kind, span[0], span[1]),
        kind=st.sampled_from(["refused", "throttled", "lost_ack"]),
        span=_span(),
    )


def cuts() -> st.SearchStrategy[Cut]:
    # Most runs make a few dozen calls, a few transactions and publishes: early cuts are
    # where the stages are.
    calls = st.builds(
        Cut,
        where=st.sampled_from(["store", "api", "any"]),
        at=st.one_of(st.integers(1, 8), st.integers(9, 40)),
    )
    few = st.builds(Cut, where=st.sampled_from(["transaction", "publisher"]), at=st.integers(1, 4))
    return st.one_of(calls, few)


def pauses() -> st.SearchStrategy[tuple[str, int]]:
    """Where run A is held while run B runs: before its k-th DynamoDB request, or k-th
    transaction (recording an alert, marking one sent)."""
    return st.one_of(
        st.tuples(st.just("store"), st.integers(1, 30)),
        st.tuples(st.just("transaction"), st.integers(1, 3)),
    )
