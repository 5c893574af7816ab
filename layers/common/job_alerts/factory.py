"""Cached, lazily built collaborators (AWS clients, Bright Data client, state store, publisher,
thresholds). Nothing here runs at import time: a handler pays only for what it uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from job_alerts.config import ConfigError, Settings
from job_alerts.thresholds import (
    Overrides,
    Thresholds,
    ThresholdsError,
    effective,
    load_overrides_text,
)
from job_alerts.timeutil import Clock, system_clock

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from botocore.client import BaseClient

    from job_alerts.brightdata import BrightDataClient
    from job_alerts.publish import AlertPublisher
    from job_alerts.state import StateStore

# Bright Data token and overrides are re-read at most this often by a warm Lambda.
PARAMETER_MAX_AGE_SECONDS = 300


def clock() -> Clock:
    """The process's time source. Tests that share one simulated time with the simulator replace
    this (see tests/conftest.py); everything that needs "now" in production asks here."""
    return system_clock


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def aws_client(service: str) -> BaseClient:
    import boto3
    from botocore.config import Config

    # Standard retry mode backs off on throttling (ProvisionedThroughputExceeded, SNS Throttled);
    # the endpoint comes from AWS_ENDPOINT_URL when set (moto server locally).
    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15
    )
    return boto3.client(service, config=config)


@dataclass(frozen=True)
class SsmToken:
    """The Bright Data token in an SSM SecureString, cached like every parameter. `refresh()`
    reads it afresh (and caches that): the client asks so once when Bright Data refuses the
    cached value, so a rotated token works on the next call, not when the cache expires."""

    name: str

    def __call__(self) -> str:
        return self._read(force_fetch=False)

    def refresh(self) -> str:
        return self._read(force_fetch=True)

    def _read(self, *, force_fetch: bool) -> str:
        value = ssm_parameters().get(
            self.name, decrypt=True, max_age=PARAMETER_MAX_AGE_SECONDS, force_fetch=force_fetch
        )
        return str(value).strip()


def ssm_parameters() -> SSMProvider:
    """Parameters read (and cached) through this process's SSM client, so they come from the
    region the CLI was pointed at (`--region`), not only from AWS_REGION."""
    return _ssm_provider(aws_client("ssm"))


@functools.cache
def _ssm_provider(client: BaseClient) -> SSMProvider:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=client)


def token_provider(cfg: Settings) -> Callable[[], str]:
    """The Bright Data token: from BRIGHTDATA_API_TOKEN locally, else the SSM SecureString
    (an SsmToken, which the client may refresh)."""
    if cfg.api_token:
        token = cfg.api_token
        return lambda: token
    if not cfg.token_parameter:
        raise ConfigError(
            "no Bright Data token: set BRIGHTDATA_API_TOKEN (local) or "
            "BRIGHTDATA_TOKEN_PARAMETER (name of an SSM SecureString)"
        )
    return SsmToken(cfg.token_parameter)


def bright_data_client(cfg: Settings) -> BrightDataClient:
    from job_alerts.brightdata import BrightDataClient

    return BrightDataClient(
        cfg.api_url, token_provider(cfg), pool_maxsize=max(cfg.max_concurrency, 4)
    )


def state_store(cfg: Settings) -> StateStore:
    from job_alerts.state import StateStore

    return StateStore(cfg.require_table(), aws_client("dynamodb"))


def publisher(cfg: Settings) -> AlertPublisher:
    from job_alerts.publish import AlertPublisher

    return AlertPublisher(cfg.require_topic(), aws_client("sns"))


def load_overrides(cfg: Settings) -> Overrides | None:
    """The per-collector override document, or None. An invalid document is an error, never a
    silent fallback: a typo must not quietly switch alerting off."""
    if cfg.thresholds_file:
        path = Path(cfg.thresholds_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"THRESHOLDS_FILE {path}: {exc.strerror}") from None
        source = f"THRESHOLDS_FILE {path}"
    elif cfg.thresholds_parameter:
        text = str(
            ssm_parameters().get(cfg.thresholds_parameter, max_age=PARAMETER_MAX_AGE_SECONDS)
        )
        source = f"THRESHOLDS_PARAMETER {cfg.thresholds_parameter}"
    else:
        return None
    try:
        return load_overrides_text(text)
    except ThresholdsError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def thresholds_resolver(
    cfg: Settings, overrides: Overrides | None = None
) -> Callable[[str | None], Thresholds]:
    """Each collector's effective thresholds: `overrides` when given (already loaded), else the
    override document `cfg` names."""
    overrides = overrides if overrides is not None else load_overrides(cfg)
    env = (cfg.env_thresholds, cfg.env_threshold_names)

    @functools.cache
    def resolve(collector_id: str | None) -> Thresholds:
        return effective(collector_id, env, overrides).values

    return resolve


def secret_value(secret_id: str, key: str) -> str:
    """A Secrets Manager secret, cached; the value may be raw text or JSON holding `key`."""
    import json

    from aws_lambda_powertools.utilities import parameters

    raw = str(parameters.get_secret(secret_id, max_age=PARAMETER_MAX_AGE_SECONDS)).strip()
    if raw.startswith("{"):
        try:
            value = json.loads(raw).get(key)
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secret {secret_id} is JSON without a string {key!r}")
        return value.strip()
    return raw


def intake_token(cfg: Settings) -> str:
    if not cfg.intake_token_secret:
        raise ConfigError("INTAKE_TOKEN_SECRET is not set; it is required here")
    return secret_value(cfg.intake_token_secret, "token")
