"""Slack notifier Lambda: posts every alert-topic SNS record to the Slack webhook, once each."""

import functools

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from job_alerts import factory
from job_alerts.config import ConfigError
from job_alerts.observability import bind_metric_dimensions, logger, metrics, tracer
from job_alerts.slack import OncePerMessage, SlackClient, deliver_sns_event

# Seconds kept back from the invocation's remaining time for writing the idempotency record.
TIME_MARGIN_SECONDS = 3.0


@functools.cache
def _once() -> OncePerMessage:
    return OncePerMessage(
        factory.settings().require_table(), dynamodb_client=factory.aws_client("dynamodb")
    )


@functools.cache
def _slack() -> SlackClient:
    return SlackClient()


def _webhook_url() -> str:
    secret_id = factory.settings().slack_webhook_secret
    if not secret_id:
        raise ConfigError("SLACK_WEBHOOK_SECRET is not set; it is required here")
    return factory.secret_value(secret_id, "webhook_url")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=SNSEvent)
def handler(event: SNSEvent, context: LambdaContext) -> dict[str, int]:
    once = _once()
    once.register_lambda_context(context)
    report = deliver_sns_event(
        event.records,
        _webhook_url(),
        client=_slack(),
        once=once,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000
        - TIME_MARGIN_SECONDS,
    )
    bind_metric_dimensions(factory.settings())
    metrics.add_metric(name="SlackMessagesPosted", unit=MetricUnit.Count, value=len(report.posted))
    metrics.add_metric(
        name="SlackDuplicatesSkipped", unit=MetricUnit.Count, value=len(report.duplicates)
    )
    return {"posted": len(report.posted), "duplicates": len(report.duplicates)}
