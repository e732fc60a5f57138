"""The HTTP families: the contract's ``django_http_*`` and ours (routes, in progress)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from django_prometheus.families.family import Family

__all__ = ["HTTP"]

_VIEW_METHOD: Final = ("view", "method")
_ROUTE_METHOD: Final = ("route", "method")

HTTP: Final = (
    Family(
        "requests_total",
        Counter,
        "django_http_requests_before_middlewares_total",
        "Requests that reached the first middleware.",
    ),
    Family(
        "responses_total",
        Counter,
        "django_http_responses_before_middlewares_total",
        "Responses that left the first middleware.",
    ),
    Family(
        "requests_latency_before",
        Histogram,
        "django_http_requests_latency_including_middlewares_seconds",
        "Request latency measured around all middlewares, in seconds.",
        buckets="latency",
    ),
    Family(
        "requests_unknown_latency_before",
        Counter,
        "django_http_requests_unknown_latency_including_middlewares_total",
        "Responses seen by the first middleware without a start time.",
    ),
    Family(
        "requests_latency_by_view_method",
        Histogram,
        "django_http_requests_latency_seconds_by_view_method",
        "Request latency measured inside all middlewares, by view and method, in seconds.",
        _VIEW_METHOD,
        buckets="latency",
    ),
    Family(
        "requests_unknown_latency",
        Counter,
        "django_http_requests_unknown_latency_total",
        "Responses or exceptions seen by the last middleware without a start time.",
    ),
    Family(
        "requests_ajax",
        Counter,
        "django_http_ajax_requests_total",
        "Requests sent with X-Requested-With: XMLHttpRequest.",
    ),
    Family(
        "requests_by_method",
        Counter,
        "django_http_requests_total_by_method",
        "Requests by method.",
        ("method",),
    ),
    Family(
        "requests_by_transport",
        Counter,
        "django_http_requests_total_by_transport",
        "Requests by transport (http or https).",
        ("transport",),
    ),
    Family(
        "requests_by_view_transport_method",
        Counter,
        "django_http_requests_total_by_view_transport_method",
        "Requests by resolved view, transport and method.",
        ("view", "transport", "method"),
    ),
    Family(
        "requests_body_bytes",
        Histogram,
        "django_http_requests_body_total_bytes",
        "Request body size from Content-Length, in bytes.",
        buckets="body",
    ),
    Family(
        "responses_by_templatename",
        Counter,
        "django_http_responses_total_by_templatename",
        "Template responses by template name.",
        ("templatename",),
    ),
    Family(
        "responses_by_status",
        Counter,
        "django_http_responses_total_by_status",
        "Responses by status code.",
        ("status",),
    ),
    Family(
        "responses_by_status_view_method",
        Counter,
        "django_http_responses_total_by_status_view_method",
        "Responses by status code, view and method.",
        ("status", *_VIEW_METHOD),
    ),
    Family(
        "responses_body_bytes",
        Histogram,
        "django_http_responses_body_total_bytes",
        "Non-streaming response body size, in bytes.",
        buckets="body",
    ),
    Family(
        "responses_by_charset",
        Counter,
        "django_http_responses_total_by_charset",
        "Responses by charset.",
        ("charset",),
    ),
    Family(
        "responses_streaming",
        Counter,
        "django_http_responses_streaming_total",
        "Streaming responses.",
    ),
    Family(
        "exceptions_by_type",
        Counter,
        "django_http_exceptions_total_by_type",
        "Exceptions raised by views, by exception class name.",
        ("type",),
    ),
    Family(
        "exceptions_by_view",
        Counter,
        "django_http_exceptions_total_by_view",
        "Exceptions raised by views, by view.",
        ("view",),
    ),
    # Ours, beyond the contract: by URL pattern (never the path), and requests in flight.
    Family(
        "requests_by_route_method",
        Counter,
        "django_http_requests_total_by_route_method",
        "Requests by URL route pattern (<unmatched> when none resolved) and method.",
        _ROUTE_METHOD,
    ),
    Family(
        "responses_by_route_status_method",
        Counter,
        "django_http_responses_total_by_route_status_method",
        "Responses by URL route pattern, status code and method.",
        ("route", "status", "method"),
    ),
    Family(
        "requests_latency_by_route_method",
        Histogram,
        "django_http_requests_latency_seconds_by_route_method",
        "Request latency measured inside all middlewares, by URL route pattern and method, "
        "in seconds (with PROMETHEUS_ROUTE_LATENCY = True).",
        _ROUTE_METHOD,
        buckets="latency",
        enabled_by="route_latency",
    ),
    Family(
        "requests_in_progress",
        Gauge,
        "django_http_requests_in_progress",
        "Requests inside PrometheusBeforeMiddleware now, by method.",
        ("method",),
        multiprocess_mode="livesum",
    ),
)
