"""The Bright Data Scraper Studio ("DCA") API client: the client and its statistics (``client``),
what an answer means (``answers``), and the typed errors and id checks (``errors``). Import what
you need from here."""

from job_alerts.brightdata.answers import RerunStarted
from job_alerts.brightdata.client import BrightDataClient, CallStats, RefreshableToken
from job_alerts.brightdata.errors import (
    BadResponse,
    BadResponseReason,
    BrightDataError,
    Endpoint,
    Forbidden,
    InvalidId,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    Transient,
    Unauthorized,
    is_unreachable,
    validate_collector_id,
    validate_job_id,
)

__all__ = [
    "BadResponse",
    "BadResponseReason",
    "BrightDataClient",
    "BrightDataError",
    "CallStats",
    "Endpoint",
    "Forbidden",
    "InvalidId",
    "NotFound",
    "RateLimited",
    "RefreshableToken",
    "RerunStarted",
    "ResponseTooLarge",
    "Transient",
    "Unauthorized",
    "is_unreachable",
    "validate_collector_id",
    "validate_job_id",
]
