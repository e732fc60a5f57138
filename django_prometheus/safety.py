"""Keeping our own failures away from the host application.

When recording raises, the instrument calls :func:`instrumentation_failed`: the
error is counted in ``django_prometheus_instrumentation_errors_total{component}``
and logged with its traceback at most once a minute per component, so a broken
label hook cannot flood the logs. The host's request, query or cache call then
goes on exactly as it would without us.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Final

from django_prometheus import state
from django_prometheus.sinks.protocols import Component, ErrorSink
from django_prometheus.sinks.provider import current_sinks

__all__ = ["LOG_INTERVAL_SECONDS", "instrumentation_failed", "logger"]

logger: Final = logging.getLogger("django_prometheus")
LOG_INTERVAL_SECONDS: Final = 60.0

# What the failure did to the host's work, as the log line says it.
_CONSEQUENCE: Final[dict[str, str]] = {
    "http": "while recording http metrics; the request was not affected",
    "export": "while serving a scrape; a failing collector answers 503, a failing "
    "pre-scrape hook leaves the scrape as it was",
}

_last_logged = state.errors_last_logged
_suppressed = state.errors_suppressed
_lock = threading.Lock()


def instrumentation_failed(
    component: Component, error: BaseException, sink: ErrorSink | None = None
) -> None:
    """Count and (rate-limited) log an error raised inside our recording code.

    Never raises: a failure here must not reach the host either.
    """
    # Counting is best effort; the logging below still happens.
    with contextlib.suppress(Exception):
        (current_sinks().errors if sink is None else sink).instrumentation_failed(component)
    now = time.monotonic()
    with _lock:
        last = _last_logged.get(component)
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            _suppressed[component] = _suppressed.get(component, 0) + 1
            return
        _last_logged[component] = now
        suppressed = _suppressed.pop(component, 0)
    consequence = _CONSEQUENCE.get(
        component, f"while recording {component} metrics; the operation was not affected"
    )
    logger.error(
        "django-prometheus failed %s (%d similar errors suppressed since the last report)",
        consequence,
        suppressed,
        exc_info=(type(error), error, error.__traceback__),
    )
