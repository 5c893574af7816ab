"""The app's one Logger, Metrics and Tracer (Powertools), shared by every function and the CLI,
and the dimensions every metric carries. The Tracer is built on a traced handler's first call, so
importing a handler never loads X-Ray."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    from job_alerts.config import Settings

SERVICE = "job-alerts"
NAMESPACE = "BrightDataJobAlerts"
# The stack dimension of metrics written outside a deployed stack (no STACK_NAME): a series no
# deployed stack's alarm reads.
LOCAL_STACK = "local"
# What our code calls: boto3 (botocore) and urllib3 (over http.client) for Bright Data and Slack.
# patch_all would also probe and patch a dozen libraries we never use.
TRACED_MODULES = ("botocore", "httplib")


class LazyTracer:
    """Stands in for Powertools' Tracer and builds it on first use.

    Building a Tracer imports the X-Ray SDK, which creates botocore clients for its sampler: about
    0.2-1 s of CPU. Done at import time, every cold start and every local run paid it, even with
    tracing off. Now a decorated handler checks on each call whether tracing is on (Powertools'
    own rule: in Lambda and not POWERTOOLS_TRACE_DISABLED); when it is off the handler runs bare
    and X-Ray is never loaded; when it is on, the real Tracer is built once and wraps the handler.
    Anything else (put_annotation, provider, ...) builds the Tracer and is passed on to it.
    """

    def __init__(self, service: str, patch_modules: tuple[str, ...] = TRACED_MODULES) -> None:
        self._service = service
        self._patch_modules = patch_modules
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._tracer is not None

    @staticmethod
    def enabled() -> bool:
        from aws_lambda_powertools import Tracer

        return not Tracer._is_tracer_disabled()

    def resolve(self) -> Tracer:
        """The real Tracer (built, and its modules patched, on the first call)."""
        with self._lock:
            if self._tracer is None:
                from aws_lambda_powertools import Tracer

                self._tracer = Tracer(service=self._service, patch_modules=self._patch_modules)
            return self._tracer

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        if lambda_handler is None:
            return functools.partial(
                self.capture_lambda_handler,
                capture_response=capture_response,
                capture_error=capture_error,
            )
        handler = lambda_handler
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def decorate(event: Any, context: Any, **kwargs: Any) -> Any:
            if not self.enabled():
                return handler(event, context, **kwargs)
            if not traced:
                traced.append(
                    self.resolve().capture_lambda_handler(
                        handler, capture_response=capture_response, capture_error=capture_error
                    )
                )
            return traced[0](event, context, **kwargs)

        return decorate

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class does not define: hand them to the real Tracer.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)


def metric_dimensions(cfg: Settings) -> dict[str, str]:
    """The dimensions of every metric the app writes: the service and the stack that wrote it.
    The template's alarms and dashboard name exactly this set, because CloudWatch matches a
    series on its whole dimension set: two stacks in one account and region each read their own
    heartbeat, and an alarm naming fewer dimensions would match nothing."""
    return {"service": SERVICE, "stack": cfg.stack_name or LOCAL_STACK}


def bind_metric_dimensions(cfg: Settings) -> None:
    """Give everything the shared `metrics` flushes from now on `cfg`'s dimensions. Powertools
    keeps default dimensions across flushes and invocations (a process serves one stack), so
    calling this on every invocation is cheap and changes nothing after the first. Powertools'
    own ColdStart metric keeps its function_name and service dimensions only; function names are
    per stack already."""
    wanted = metric_dimensions(cfg)
    if metrics.default_dimensions != wanted:  # set again, Powertools warns of each duplicate
        metrics.set_default_dimensions(**wanted)


logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
# Patches boto3/urllib3 only when X-Ray is active (in Lambda with Tracing: Active); locally
# POWERTOOLS_TRACE_DISABLED is honoured and the handler runs untraced.
tracer = LazyTracer(SERVICE)
