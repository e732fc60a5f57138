"""Exemplar sources named by PROMETHEUS_EXEMPLARS in the exemplar tests."""

from __future__ import annotations

from django.http import HttpRequest


def from_header(request: HttpRequest) -> dict[str, str] | None:
    trace = request.META.get("HTTP_X_TRACE")
    return None if trace is None else {"trace_id": trace}


def broken(request: HttpRequest) -> dict[str, str]:
    raise RuntimeError("the exemplar source broke")


def too_long(request: HttpRequest) -> dict[str, str]:
    return {"trace_id": "x" * 200}


NOT_CALLABLE = "a string"
