"""The app's one Logger, Metrics and Tracer (Powertools), shared by every function and the CLI."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "job-alerts"
NAMESPACE = "BrightDataJobAlerts"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
# Tracer patches boto3/urllib3 only when X-Ray is active (in Lambda with Tracing: Active); locally
# POWERTOOLS_TRACE_DISABLED is honoured and it becomes a no-op.
tracer = Tracer(service=SERVICE)
