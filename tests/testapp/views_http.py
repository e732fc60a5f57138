"""Views the HTTP middleware integration tests call (mounted under ``/http/``)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse

from django_prometheus.decorators import prometheus_exempt

PAYLOAD = b"0123456789" * 10
threads: list[tuple[str, int]] = []
"""(where, thread id) pairs recorded by the views and by the test middlewares."""


def ok(request: HttpRequest) -> HttpResponse:
    threads.append(("view", threading.get_ident()))
    return HttpResponse(PAYLOAD, content_type="text/plain")


def unnamed(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"unnamed")


def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"received": len(request.body)})


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("the view failed")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such thing")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"a", b"b", b"c"]))


def download(request: HttpRequest) -> FileResponse:
    return FileResponse(io.BytesIO(PAYLOAD), filename="payload.bin")


def page(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(request, "http/page.html", {"greeting": "hello"})


@prometheus_exempt
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok")


@prometheus_exempt
def exempt_boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("not counted")


async def async_ok(request: HttpRequest) -> HttpResponse:
    threads.append(("view", threading.get_ident()))
    return HttpResponse(PAYLOAD, content_type="text/plain")


async def async_boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("the async view failed")


async def _chunks() -> AsyncIterator[bytes]:
    for chunk in (b"a", b"b", b"c"):
        yield chunk


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_chunks())


async def async_page(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(request, "http/page.html", {"greeting": "hello"})


def item(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(f"item {pk}".encode())


def legacy(request: HttpRequest, year: str) -> HttpResponse:
    return HttpResponse(year.encode())


async def async_slow(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(5)
    return HttpResponse(b"too late")
