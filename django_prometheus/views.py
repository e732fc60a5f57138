"""The metrics as a Django view: ``django_prometheus.urls`` routes ``metrics`` here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.http import HttpRequest, HttpResponse

from django_prometheus.config import get_config
from django_prometheus.scrape import ScrapeRequest, serve_scrape

__all__ = ["ExportToDjangoView"]

_ViewT = TypeVar("_ViewT", bound=Callable[..., HttpResponse])


def _exempt_from_login(view: _ViewT) -> _ViewT:
    """Mark ``view`` public for Django 5.1+'s LoginRequiredMiddleware (no-op before 5.1)."""
    try:
        from django.contrib.auth.decorators import login_not_required
    except ImportError:  # Django < 5.1: no LoginRequiredMiddleware to be exempt from
        return view
    return login_not_required(view)


@_exempt_from_login
def ExportToDjangoView(request: HttpRequest) -> HttpResponse:
    """Serve the metrics; protect them with the ``PROMETHEUS_METRICS_*`` access settings.

    Exempt from LoginRequiredMiddleware, since a scraper does not log in. No answer
    may be cached.
    """
    meta = request.META
    answer = serve_scrape(
        ScrapeRequest(
            method=request.method or "",
            remote_addr=meta.get("REMOTE_ADDR"),
            forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"),
            authorization=meta.get("HTTP_AUTHORIZATION"),
            accept=meta.get("HTTP_ACCEPT"),
            accept_encoding=meta.get("HTTP_ACCEPT_ENCODING"),
            names=request.GET.getlist("name[]"),
        ),
        get_config(),
    )
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response
