"""Monitor Lambda: a scheduled event runs one monitor pass; a track event records jobs."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from job_alerts.observability import logger, metrics, tracer
from job_alerts.service import handle_monitor_event


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_monitor_event(event, remaining_ms=context.get_remaining_time_in_millis)
