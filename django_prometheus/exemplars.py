"""Exemplars for the latency histograms and the responses-by-status counters.

``PROMETHEUS_EXEMPLARS`` chooses where they come from: ``"opentelemetry"`` (the
trace and span of the current span) or the dotted path of a callable
``(request) -> Mapping[str, str] | None``. Prometheus sees them when it negotiates
OpenMetrics. A source that raises or answers something that is not a small mapping
of strings is counted as an instrumentation error; the observation is kept, without
an exemplar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.module_loading import import_string

__all__ = ["OPENTELEMETRY", "ExemplarSource", "exemplar_source", "valid_exemplar"]

OPENTELEMETRY: Final = "opentelemetry"
# prometheus_client refuses exemplars whose label names and values exceed 128 characters.
_MAX_EXEMPLAR_RUNES: Final = 128

ExemplarSource = Callable[[HttpRequest], "Mapping[str, str] | None"]


def _opentelemetry_source() -> ExemplarSource:
    try:
        from opentelemetry import trace
    except ImportError:
        raise ImproperlyConfigured(
            "PROMETHEUS_EXEMPLARS = 'opentelemetry' needs the opentelemetry-api package: "
            "pip install 'django-prometheus[opentelemetry]', or unset the setting."
        ) from None

    def current_span(request: HttpRequest) -> Mapping[str, str] | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return {
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
        }

    return current_span


def exemplar_source(setting: str | None) -> ExemplarSource | None:
    """The callable ``PROMETHEUS_EXEMPLARS`` names; ImproperlyConfigured if it cannot be had."""
    if setting is None:
        return None
    if setting == OPENTELEMETRY:
        return _opentelemetry_source()
    try:
        source = import_string(setting)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"PROMETHEUS_EXEMPLARS = {setting!r} cannot be imported ({error}); expected "
            "'opentelemetry' or the dotted path of a callable (request) -> dict[str, str] | None."
        ) from None
    if not callable(source):
        raise ImproperlyConfigured(
            f"PROMETHEUS_EXEMPLARS = {setting!r} is not callable; expected a callable "
            "(request) -> dict[str, str] | None."
        )
    return source  # type: ignore[no-any-return]


def valid_exemplar(labels: object) -> Mapping[str, str] | None:
    """``labels`` when prometheus_client will take it as an exemplar; ValueError otherwise."""
    if labels is None:
        return None
    if not isinstance(labels, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in labels.items()
    ):
        raise ValueError(f"an exemplar must be a mapping of str to str, got {labels!r}")
    if sum(len(key) + len(value) for key, value in labels.items()) > _MAX_EXEMPLAR_RUNES:
        raise ValueError(f"an exemplar's labels may hold at most {_MAX_EXEMPLAR_RUNES} characters")
    return labels or None
