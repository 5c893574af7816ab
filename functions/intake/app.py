"""Webhook intake Lambda (Function URL): Bright Data's notify call → the job is tracked."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from job_alerts import factory
from job_alerts.intake import handle_webhook
from job_alerts.observability import logger, tracer
from job_alerts.service import track_jobs


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event can carry the token.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=LambdaFunctionUrlEvent)
def handler(event: LambdaFunctionUrlEvent, context: LambdaContext) -> dict[str, Any]:
    cfg = factory.settings()
    response = handle_webhook(
        event,
        expected_token=lambda: factory.intake_token(cfg),
        track=lambda ids: track_jobs(
            factory.state_store(cfg), ids, source="webhook", cfg=cfg, now=factory.clock()()
        ),
        max_body_bytes=cfg.intake_max_body_bytes,
    )
    logger.info(
        "webhook handled",
        extra={"status": response.status, "error": response.body.get("error")},
    )
    return response.to_lambda()
