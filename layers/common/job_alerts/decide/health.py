"""Decide stage for the monitor itself: this run's API calls -> health (HEALTHY, TOKEN_REJECTED,
API_UNREACHABLE, ENDPOINT_REFUSED), and a DEGRADED or RECOVERED message when it changed. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from job_alerts.alerts import AlertEntry, AlertKind
from job_alerts.brightdata import (
    BadResponse,
    BrightDataError,
    Forbidden,
    ResponseTooLarge,
    Unauthorized,
    is_unreachable,
)
from job_alerts.decide.collector import Decision
from job_alerts.joblog import JobLogError
from job_alerts.models import (
    Health,
    HealthClaim,
    HealthState,
)
from job_alerts.rules import (
    Severity,
)

# When more than this share of a run's Bright Data calls fail (after retries), the API counts as
# unreachable: one DEGRADED alert, and no verdicts from what little was read.
UNREACHABLE_FAILURE_SHARE = 0.5
# Without `Collectors`, runs in a row whose collectors_list failed before health says
# ACCOUNT_UNLISTED (as many as open the per-collector collector_unlisted alarm).
ACCOUNT_UNLISTED_AFTER_RUNS = 3


# ---- monitor health ------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthAssessment:
    state: HealthState
    detail: str  # which calls failed and how, for the DEGRADED alert


def unjudgeable_reason(error: object) -> str | None:
    """Why an answer could not be judged (a fixed vocabulary, for metrics), or None when the
    error is not about the answer's content."""
    if isinstance(error, BadResponse):
        return str(error.reason)
    if isinstance(error, ResponseTooLarge):
        return "too_large"
    if isinstance(error, JobLogError):
        return "unjudgeable_log"
    return None


def is_failed_call(error: object) -> bool:
    """A call that tells nothing about the job: the API unreachable, rate limited, or answering
    something that cannot be judged."""
    return is_unreachable(error) or unjudgeable_reason(error) is not None


def is_failed_listing(error: object) -> bool:
    """A listing of jobs (or of collectors) that tells nothing: unlike a job read, where 404
    means the job is gone, any failure of a listing leaves what it should show unseen (a page
    with 200, a 400 or 404, paging that never advances, the API unreachable). Only a refusal
    (403) is told apart, as ENDPOINT_REFUSED."""
    return isinstance(error, BrightDataError) and not isinstance(error, Forbidden)


def assess_health(
    *,
    token_rejected: bool,
    listing_failures: int,
    listing_attempts: int,
    read_errors: Sequence[BrightDataError | JobLogError],
    reads: int,
    refused: Sequence[BrightDataError] = (),
    token_proven: bool = False,
    account_unlisted_runs: int = 0,
) -> HealthAssessment:
    """Monitor health from this run's calls: TOKEN_REJECTED on a 401 that no accepted call of
    the run contradicts (`token_proven`: a listing or a read was answered; a job that alone
    answers 401 is an id the token cannot see, not a rejected token); API_UNREACHABLE when
    more than half of the listings and reads failed or answered what cannot be judged;
    ENDPOINT_REFUSED when an endpoint answered 403 (jobs are still judged); ACCOUNT_UNLISTED
    when collectors_list failed on ACCOUNT_UNLISTED_AFTER_RUNS runs in a row (this one
    included) without `Collectors` (jobs are still judged); else HEALTHY."""
    kinds = Counter(type(e).__name__ for e in read_errors)
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))
    refused_reads = any(isinstance(e, Unauthorized) for e in read_errors)
    if token_rejected or (refused_reads and not token_proven):
        return HealthAssessment(HealthState.TOKEN_REJECTED, detail)
    failed_reads = sum(1 for e in read_errors if is_failed_call(e))
    failures = listing_failures + failed_reads
    attempts = listing_attempts + reads
    if attempts and failures / attempts > UNREACHABLE_FAILURE_SHARE:
        counts = (
            f"{listing_failures} of {listing_attempts} listings and {failed_reads} of {reads} "
            "job reads failed"
        )
        failed = [e for e in [*refused, *read_errors] if is_failed_call(e)]
        # The error itself, not only its kind: with no read tried, it is all there is to say.
        last = f"; last error: {str(failed[-1])[:200]}" if failed else ""
        return HealthAssessment(HealthState.API_UNREACHABLE, f"{counts}{last}")
    forbidden = [e for e in [*refused, *read_errors] if isinstance(e, Forbidden)]
    if forbidden:
        return HealthAssessment(HealthState.ENDPOINT_REFUSED, _refused_detail(forbidden))
    if account_unlisted_runs >= ACCOUNT_UNLISTED_AFTER_RUNS:
        failed = [e for e in refused if is_failed_listing(e)]
        last = f"; last error: {str(failed[-1])[:200]}" if failed else ""
        return HealthAssessment(
            HealthState.ACCOUNT_UNLISTED, f"{account_unlisted_runs} runs in a row{last}"
        )
    return HealthAssessment(HealthState.HEALTHY, detail)


def _refused_detail(refused: Sequence[BrightDataError]) -> str:
    """Which endpoints answered 403, each once, with what Bright Data said."""
    seen: dict[str, str] = {}
    for error in refused:
        where = f"GET {error.endpoint.value}" if error.endpoint else "an endpoint"
        seen.setdefault(where, f"{where} answered {error.status or 403}: {error}"[:200])
    return "; ".join(seen.values())


_DEGRADED_MESSAGES = {
    HealthState.TOKEN_REJECTED: "Bright Data API token rejected (401): no job can be read",
    HealthState.API_UNREACHABLE: (
        "Bright Data API unreachable: most calls this run failed or answered what cannot be judged"
    ),
    HealthState.ENDPOINT_REFUSED: (
        "Bright Data refused an endpoint for this account (403); jobs that can be read are "
        "still judged. Set Collectors to list named collectors without collectors_list"
    ),
    HealthState.ACCOUNT_UNLISTED: (
        "Bright Data's collectors_list keeps failing: the collectors already known are still "
        "listed and judged, but a collector the monitor has not seen yet goes unseen. Set "
        "Collectors to name them if it lasts"
    ),
}


def decide_health(
    prior: Health, assessment: HealthAssessment, now: datetime, *, account_unlisted_runs: int = 0
) -> Decision | None:
    """A DEGRADED or RECOVERED message when health changed; None when it did not. The health
    written carries this run's count of collectors_list failures in a row."""
    new = assessment.state
    if new is prior.state:
        return None
    if new is HealthState.HEALTHY:
        entry = AlertEntry(
            kind=AlertKind.RECOVERED,
            rule="api_health",
            severity=Severity.CRITICAL,  # as severe as the DEGRADED alert it ends
            message="Bright Data API reachable and token accepted again",
            observed=new.value,
            limit=None,
            since=prior.since,
            duration_s=(now - prior.since).total_seconds() if prior.since else None,
        )
    else:
        message = _DEGRADED_MESSAGES[new]
        detail = assessment.detail
        entry = AlertEntry(
            kind=AlertKind.DEGRADED,
            rule="api_health",
            severity=Severity.CRITICAL,
            message=f"{message} ({detail})" if detail else message,
            observed=new.value,
            limit=HealthState.HEALTHY.value,
            since=now,
        )
    updated = Health(
        state=new,
        since=now,
        version=prior.version + 1,
        live_cursor=prior.live_cursor,
        detail=entry.message,
        hidden_due=prior.hidden_due,
        account_unlisted_runs=account_unlisted_runs,
    )
    decision = Decision(collector_id=None)
    decision.add(entry, HealthClaim(updated, prior.version))
    return decision
