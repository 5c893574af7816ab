"""The decide stage, with no server: prior alarm and health state + judged jobs + now →
decisions (alert entries, each with its claim). M-of-N windows, reminders, resolve, UNKNOWN,
every_job mode, health transitions and claims already made elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts.alerts import AlertKind
from job_alerts.brightdata import RateLimited, Transient, Unauthorized
from job_alerts.config import AlertMode, Settings
from job_alerts.decide import (
    Decision,
    JudgedJob,
    assess_health,
    decide_collector,
    decide_health,
    judge_jobs,
)
from job_alerts.joblog import JobLogError, parse_job_log
from job_alerts.models import (
    AlarmClaim,
    AlarmState,
    Health,
    HealthClaim,
    HealthState,
    JobRecord,
    JobRuleClaim,
    RuleAlarm,
)
from job_alerts.thresholds import Thresholds

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CID = "c_shop"
# Only the success-rate rule can breach on settled jobs (fails and output limits are loose).
LIMITS = Thresholds(min_success_rate=0.9, max_fails=1000, min_lines=0)


def job(job_id: str, status: str = "done", success: int = 100, minute: int = 0) -> JudgedJob:
    """A job of CID created `minute` minutes after NOW - 1 h, judged against LIMITS."""
    created = NOW - timedelta(hours=1) + timedelta(minutes=minute)
    payload: dict[str, Any] = {
        "Id": job_id,
        "Collector": CID,
        "Status": status,
        "Inputs": 100,
        "Success": success,
        "Fails": 100 - success,
        "Lines": success,
        "created": created.isoformat(),
        "started": created.isoformat(),
    }
    if status in ("done", "failed", "cancelled"):
        payload["finished"] = (created + timedelta(minutes=1)).isoformat()
    record = JobRecord(job_id=job_id, collector_id=CID, first_seen=created)
    judged = judge_jobs([(record, parse_job_log(payload))], lambda _cid: LIMITS, NOW)
    (item,) = judged.by_collector[CID]
    return item


def decide(
    jobs: Sequence[JudgedJob],
    alarms: dict[str, RuleAlarm] | None = None,
    now: datetime = NOW,
    **settings: Any,
) -> Decision:
    return decide_collector(CID, "Shop", jobs, alarms or {}, Settings(**settings), now)


def kinds(decision: Decision) -> list[tuple[str, str]]:
    return [(e.kind.value, e.rule) for e in decision.entries]


def alarm_after(decision: Decision, rule: str = "success_rate_below_min") -> RuleAlarm:
    """The alarm as the decision leaves it (claimed with an alert, or saved quietly)."""
    claims = [c for c in decision.claims if isinstance(c, AlarmClaim)] + decision.quiet_alarms
    return next(c.alarm for c in claims if c.alarm.rule == rule)


# ---- collector alarms ----------------------------------------------------------------------


def test_decide_breach_opens_alarm_once_with_its_claim() -> None:
    # Given no prior state, When a job breaches the success rate
    decision = decide([job("j_bad1", success=40)])
    # Then one ALARM entry, claimed on a fresh alarm (expected version 0)
    assert kinds(decision) == [("ALARM", "success_rate_below_min")]
    (claim,) = decision.claims
    assert isinstance(claim, AlarmClaim)
    assert (claim.expected_version, claim.alarm.state, claim.alarm.version) == (
        0,
        AlarmState.ALARM,
        1,
    )
    assert claim.alarm.alarm_since == NOW
    assert decision.entries[0].job_ids == ("j_bad1",)
    assert decision.affected == {"j_bad1"}


def test_decide_healthy_job_only_moves_the_window_quietly() -> None:
    decision = decide([job("j_ok1")])
    assert decision.entries == []
    assert alarm_after(decision).state is AlarmState.OK
    # every collector rule's window records the OK outcome, saved without an alert
    assert {c.alarm.rule for c in decision.quiet_alarms} == {
        "success_rate_below_min",
        "fails_above_max",
        "output_below_min",
    }


def test_decide_does_not_mutate_the_prior_alarm() -> None:
    prior = RuleAlarm(CID, "success_rate_below_min", version=3, exists=True)
    decide([job("j_bad1", success=40)], {"success_rate_below_min": prior})
    assert (prior.version, prior.state, prior.outcomes) == (3, AlarmState.OK, [])


@pytest.mark.parametrize(
    ("successes", "expected"),
    [
        ([40, 100, 100], []),  # 1 of 3 breached: below M=2
        ([40, 100, 40], [("ALARM", "success_rate_below_min")]),  # 2 of 3
        ([40, 40, 40], [("ALARM", "success_rate_below_min")]),
    ],
)
def test_decide_m_of_n_alarm_needs_m_breaches_in_the_last_n(
    successes: list[int], expected: list[tuple[str, str]]
) -> None:
    jobs = [job(f"j_{n}", success=s, minute=n) for n, s in enumerate(successes)]
    assert kinds(decide(jobs, alarm_after=2, alarm_window=3)) == expected


def test_decide_m_of_n_window_keeps_the_most_recently_created_jobs() -> None:
    # Given a window of 2, When three jobs are judged (the oldest breaching)
    jobs = [job("j_0", success=40, minute=0), job("j_1", minute=1), job("j_2", minute=2)]
    alarm = alarm_after(decide(jobs, alarm_after=1, alarm_window=2))
    # Then only the two newest remain, oldest first
    assert [entry[0] for entry in alarm.outcomes] == ["j_1", "j_2"]


def open_alarm(since: datetime, last_notified: datetime | None = None) -> RuleAlarm:
    return RuleAlarm(
        CID,
        "success_rate_below_min",
        state=AlarmState.ALARM,
        version=5,
        outcomes=[["j_bad0", "breach", (NOW - timedelta(hours=3)).isoformat()]],
        alarm_since=since,
        last_notified=last_notified or since,
        alarm_jobs=["j_bad0"],
        exists=True,
    )


def test_decide_good_job_resolves_an_open_alarm() -> None:
    prior = open_alarm(NOW - timedelta(hours=2))
    decision = decide([job("j_ok1")], {"success_rate_below_min": prior})
    assert kinds(decision) == [("RESOLVED", "success_rate_below_min")]
    (entry,) = decision.entries
    assert entry.duration_s == 7200
    assert entry.job_ids == ("j_ok1",)
    claim = decision.claims[0]
    assert isinstance(claim, AlarmClaim)
    assert claim.expected_version == 5
    assert (claim.alarm.state, claim.alarm.alarm_since) == (AlarmState.OK, None)


def test_decide_running_job_that_is_fine_so_far_cannot_resolve() -> None:
    prior = open_alarm(NOW - timedelta(hours=2))
    decision = decide([job("j_run1", status="running")], {"success_rate_below_min": prior})
    assert decision.entries == []
    assert decision.quiet_alarms == []


@pytest.mark.parametrize(
    ("minutes_since_notified", "reminded"), [(59, False), (60, True), (180, True)]
)
def test_decide_reminder_after_repeat_minutes_without_new_jobs(
    minutes_since_notified: int, reminded: bool
) -> None:
    since = NOW - timedelta(hours=4)
    prior = open_alarm(since, last_notified=NOW - timedelta(minutes=minutes_since_notified))
    decision = decide([], {"success_rate_below_min": prior}, repeat_after_minutes=60)
    assert kinds(decision) == ([("REMINDER", "success_rate_below_min")] if reminded else [])
    if reminded:
        claim = decision.claims[0]
        assert isinstance(claim, AlarmClaim)
        assert (claim.expected_version, claim.alarm.version) == (5, 6)
        assert claim.alarm.last_notified == NOW


def test_decide_no_reminders_when_repeat_is_off() -> None:
    prior = open_alarm(NOW - timedelta(days=2))
    assert decide([], {"success_rate_below_min": prior}).entries == []


def test_decide_unknown_verdict_moves_alarm_to_unknown_without_alert() -> None:
    # Given a settled job whose success rate cannot be known (no counts)
    payload = {"Id": "j_blank", "Collector": CID, "Status": "done", "Lines": 5}
    record = JobRecord(job_id="j_blank", collector_id=CID, first_seen=NOW)
    judged = judge_jobs([(record, parse_job_log(payload))], lambda _c: LIMITS, NOW)
    decision = decide(judged.by_collector[CID])
    assert decision.entries == []
    assert alarm_after(decision).state is AlarmState.UNKNOWN


# ---- job events and every_job mode ----------------------------------------------------------


def test_decide_failed_job_is_a_job_event_claimed_per_job_and_rule() -> None:
    decision = decide([job("j_f1", status="failed", success=0)])
    assert ("JOB", "job_failed") in kinds(decision)
    claim = next(c for c in decision.claims if isinstance(c, JobRuleClaim))
    assert (claim.job_id, claim.rule, claim.at) == ("j_f1", "job_failed", NOW)


def test_decide_job_event_already_alerted_is_not_repeated() -> None:
    item = job("j_f1", status="failed", success=0)
    item.record.alerted.append("job_failed")
    assert ("JOB", "job_failed") not in kinds(decide([item]))


def test_decide_job_event_claimed_by_a_concurrent_run_is_skipped() -> None:
    item = job("j_f1", status="failed", success=0)
    decision = decide_collector(
        CID, None, [item], {}, Settings(), NOW, claimed={"j_f1": {"job_failed"}}
    )
    assert ("JOB", "job_failed") not in kinds(decision)


def test_decide_every_job_mode_alerts_each_breaching_job_once_and_keeps_no_alarm() -> None:
    jobs = [job("j_a", success=40, minute=0), job("j_b", success=30, minute=1)]
    prior = open_alarm(NOW - timedelta(hours=1))
    decision = decide(jobs, {"success_rate_below_min": prior}, alert_mode=AlertMode.EVERY_JOB)
    assert kinds(decision) == [("JOB", "success_rate_below_min")] * 2
    assert all(isinstance(c, JobRuleClaim) for c in decision.claims)
    assert decision.quiet_alarms == []


# ---- monitor health ------------------------------------------------------------------------


def test_assess_health_any_401_is_token_rejected() -> None:
    verdict = assess_health(
        token_rejected=False,
        listing_failures=0,
        listing_attempts=1,
        read_errors=[Unauthorized("no")],
        reads=10,
    )
    assert verdict.state is HealthState.TOKEN_REJECTED


@pytest.mark.parametrize(
    ("failed", "reads", "state"),
    [(5, 10, HealthState.HEALTHY), (6, 10, HealthState.API_UNREACHABLE)],
)
@pytest.mark.parametrize("error", [Transient("down"), RateLimited("slow down")])
def test_assess_health_unreachable_when_more_than_half_the_calls_failed(
    failed: int, reads: int, state: HealthState, error: Exception
) -> None:
    verdict = assess_health(
        token_rejected=False,
        listing_failures=0,
        listing_attempts=0,
        read_errors=[error] * failed,  # type: ignore[list-item]
        reads=reads,
    )
    assert verdict.state is state


def test_assess_health_an_unparsable_log_alone_does_not_degrade() -> None:
    verdict = assess_health(
        token_rejected=False,
        listing_failures=0,
        listing_attempts=1,
        read_errors=[JobLogError("status", "odd")],
        reads=1,
    )
    assert verdict.state is HealthState.HEALTHY


def test_decide_health_change_is_one_claimed_message_and_no_change_is_none() -> None:
    healthy = Health(version=2)
    unreachable = assess_health(
        token_rejected=False,
        listing_failures=1,
        listing_attempts=1,
        read_errors=[],
        reads=0,
    )
    decision = decide_health(healthy, unreachable, NOW)
    assert decision is not None
    assert [e.kind for e in decision.entries] == [AlertKind.DEGRADED]
    (claim,) = decision.claims
    assert isinstance(claim, HealthClaim)
    assert (claim.expected_version, claim.health.state) == (2, HealthState.API_UNREACHABLE)
    degraded = Health(state=HealthState.API_UNREACHABLE, since=NOW - timedelta(minutes=30))
    assert decide_health(degraded, unreachable, NOW) is None
    recovered = decide_health(
        degraded,
        assess_health(
            token_rejected=False, listing_failures=0, listing_attempts=1, read_errors=[], reads=1
        ),
        NOW,
    )
    assert recovered is not None
    assert recovered.entries[0].kind is AlertKind.RECOVERED
    assert recovered.entries[0].duration_s == 1800


def test_decide_failed_job_with_an_odd_field_is_reported_and_names_the_field() -> None:
    # Given a failed job whose `Fails` is unreadable
    payload = {"Id": "j_odd", "Collector": CID, "Status": "failed", "Inputs": 10, "Fails": "many"}
    record = JobRecord(job_id="j_odd", collector_id=CID, first_seen=NOW)
    judged = judge_jobs([(record, parse_job_log(payload))], lambda _c: LIMITS, NOW)
    # When decided, Then job_failed is still sent, and its message names the odd field
    decision = decide(judged.by_collector[CID])
    (entry,) = [e for e in decision.entries if e.rule == "job_failed"]
    assert "fails" in entry.message
    assert "note:" in entry.message
