"""Alerts: the model (``model``), its versioned JSON document (``document``) and one pure
rendering per channel: email text (``render_email``), Slack Block Kit (``render_slack``) and
CloudWatch alarm to Slack (``render_cloudwatch``), sharing their words (``wording``) and Slack
pieces (``blockkit``). The names other modules use are importable from here."""

from job_alerts.alerts.document import SCHEMA_VERSION, from_document, to_document
from job_alerts.alerts.model import (
    Alert,
    AlertEntry,
    AlertKind,
    ErrorSummary,
    JobFacts,
    job_link,
)
from job_alerts.alerts.render_cloudwatch import render_cloudwatch_slack
from job_alerts.alerts.render_email import render_email, render_subject
from job_alerts.alerts.render_slack import render_slack, slack_payload_for_sns

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AlertEntry",
    "AlertKind",
    "ErrorSummary",
    "JobFacts",
    "from_document",
    "job_link",
    "render_cloudwatch_slack",
    "render_email",
    "render_slack",
    "render_subject",
    "slack_payload_for_sns",
    "to_document",
]
