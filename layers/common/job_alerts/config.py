"""Settings read once from the environment into one frozen object; nothing else reads os.environ."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from job_alerts.brightdata import validate_collector_id
from job_alerts.thresholds import Thresholds, ThresholdsError, thresholds_from_env

DEFAULT_API_URL = "https://api.brightdata.com"
# What CloudFormation accepts as a stack name: a stack name is pasted into commands.
STACK_NAME_PATTERN = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")


class ConfigError(ValueError):
    """Configuration is missing or invalid; the message names the variable."""


class AlertMode(StrEnum):
    STATE = "state"  # notify when a collector rule changes state (ALARM / RESOLVED)
    EVERY_JOB = "every_job"  # notify for every breaching job, once per job and rule


@dataclass(frozen=True)
class Deployment:
    """Which deployment sent an alert: its CloudFormation stack, region and AWS account, each
    None when unknown. Every alert names it, and every command an alert shows points at it."""

    stack: str | None = None
    region: str | None = None
    account: str | None = None

    @classmethod
    def of_stack(
        cls,
        stack: str,
        topic_arn: str | None,
        *,
        region: str | None = None,
        account: str | None = None,
    ) -> Deployment:
        """The stack's deployment; the region and account not given are its topic's (the stack
        created the topic, so its ARN says where the stack is)."""
        parts = (topic_arn or "").split(":")
        if len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns":
            region, account = region or parts[3] or None, account or parts[4] or None
        return cls(stack, region, account)


@dataclass(frozen=True)
class Settings:
    table_name: str | None = None
    topic_arn: str | None = None
    api_url: str = DEFAULT_API_URL
    # Kept out of repr so a logged Settings object can never leak the token.
    api_token: str | None = field(default=None, repr=False)
    token_parameter: str | None = None
    thresholds_parameter: str | None = None
    thresholds_file: str | None = None
    collectors: tuple[str, ...] = ()
    # Collectors whose failed inputs are rerun once when a settled job with failures alerts.
    rerun_collectors: tuple[str, ...] = ()
    lookback_days: int = 2
    max_concurrency: int = 16
    alarm_after: int = 1
    alarm_window: int = 1
    repeat_after_minutes: int = 0
    alert_mode: AlertMode = AlertMode.STATE
    env_thresholds: Thresholds = field(default_factory=Thresholds)
    env_threshold_names: frozenset[str] = frozenset()
    job_ttl_days: int = 30
    history_ttl_days: int = 90
    deadline_margin_seconds: float = 20.0
    slack_webhook_secret: str | None = None
    intake_token_secret: str | None = None
    intake_max_body_bytes: int = 64 * 1024
    # The CloudFormation stack the function belongs to (the template passes it); None locally.
    stack_name: str | None = None
    # Where that stack is: the region Lambda runs the function in (AWS_REGION) and, when set,
    # AWS_ACCOUNT_ID; what is missing comes from TOPIC_ARN (see `deployment`).
    region: str | None = None
    account_id: str | None = None

    @property
    def deployment(self) -> Deployment | None:
        """The deployment these settings belong to; None on a local run (no stack named)."""
        if self.stack_name is None:
            return None
        return Deployment.of_stack(
            self.stack_name, self.topic_arn, region=self.region, account=self.account_id
        )

    def require_table(self) -> str:
        return _require_deployed(self.table_name, "TABLE_NAME")

    def require_topic(self) -> str:
        return _require_deployed(self.topic_arn, "TOPIC_ARN")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            thresholds, threshold_names = thresholds_from_env(env)
        except ThresholdsError as exc:
            raise ConfigError(str(exc)) from exc
        alarm_after = _int(env, "ALARM_AFTER", 1, minimum=1)
        alarm_window = _int(env, "ALARM_WINDOW", 1, minimum=1)
        if alarm_after > alarm_window:
            raise ConfigError(
                f"ALARM_AFTER ({alarm_after}) cannot exceed ALARM_WINDOW ({alarm_window})"
            )
        return cls(
            table_name=_str(env, "TABLE_NAME"),
            topic_arn=_str(env, "TOPIC_ARN"),
            api_url=(_str(env, "BRIGHTDATA_API_URL") or DEFAULT_API_URL).rstrip("/"),
            api_token=_str(env, "BRIGHTDATA_API_TOKEN"),
            token_parameter=_str(env, "BRIGHTDATA_TOKEN_PARAMETER"),
            thresholds_parameter=_str(env, "THRESHOLDS_PARAMETER"),
            thresholds_file=_str(env, "THRESHOLDS_FILE"),
            collectors=_collectors(env, "COLLECTORS"),
            rerun_collectors=_collectors(env, "RERUN_COLLECTORS"),
            lookback_days=_int(env, "LOOKBACK_DAYS", 2, minimum=0, maximum=16),
            max_concurrency=_int(env, "MAX_CONCURRENCY", 16, minimum=1, maximum=256),
            alarm_after=alarm_after,
            alarm_window=alarm_window,
            repeat_after_minutes=_int(env, "REPEAT_AFTER_MINUTES", 0, minimum=0),
            alert_mode=_alert_mode(env),
            env_thresholds=thresholds,
            env_threshold_names=threshold_names,
            job_ttl_days=_int(env, "JOB_TTL_DAYS", 30, minimum=1),
            history_ttl_days=_int(env, "HISTORY_TTL_DAYS", 90, minimum=1),
            deadline_margin_seconds=float(
                _int(env, "DEADLINE_MARGIN_SECONDS", 20, minimum=1, maximum=600)
            ),
            slack_webhook_secret=_str(env, "SLACK_WEBHOOK_SECRET"),
            intake_token_secret=_str(env, "INTAKE_TOKEN_SECRET"),
            stack_name=_stack_name(env),
            region=_str(env, "AWS_REGION"),
            account_id=_str(env, "AWS_ACCOUNT_ID"),
        )


def _require_deployed(value: str | None, name: str) -> str:
    # Locally this is a command pasted from an alert, run without the stack it came from.
    if not value:
        raise ConfigError(
            f"no deployment chosen: add --stack NAME (the stack that sent the alert) or set {name}"
        )
    return value


def _stack_name(env: Mapping[str, str]) -> str | None:
    name = _str(env, "STACK_NAME")
    if name is not None and not STACK_NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"STACK_NAME is not a CloudFormation stack name: {name[:40]!r}")
    return name


def _str(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        bound = f"between {minimum}{upper}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def _collectors(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    try:
        return tuple(dict.fromkeys(validate_collector_id(cid) for cid in ids))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _alert_mode(env: Mapping[str, str]) -> AlertMode:
    raw = env.get("ALERT_MODE", "").strip().lower() or AlertMode.STATE.value
    try:
        return AlertMode(raw)
    except ValueError:
        valid = ", ".join(m.value for m in AlertMode)
        raise ConfigError(f"ALERT_MODE must be one of {valid}, got {raw[:40]!r}") from None
