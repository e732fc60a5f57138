"""Ours beyond the contract, through the real middleware stack: series by URL route, the
route latency histogram, requests in progress, body-size buckets and disabled families."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import cast

import django
import pytest
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import resolve
from prometheus_client import REGISTRY, CollectorRegistry

from django_prometheus.config import PrometheusConfig
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware
from django_prometheus.sinks.prometheus import PrometheusSinks
from django_prometheus.testing import FakeSinks, RequestFinished, RequestStarted, use_sinks
from tests.integration.test_http import DEFAULT_MIDDLEWARE

ROUTES = "django_http_requests_total_by_route_method_total"
RESPONSES = "django_http_responses_total_by_route_status_method_total"
IN_PROGRESS = "django_http_requests_in_progress"


@pytest.fixture(autouse=True)
def _default_middleware() -> Iterator[None]:
    with override_settings(MIDDLEWARE=DEFAULT_MIDDLEWARE):
        yield


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def route_series() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in (ROUTES, RESPONSES):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_hundred_pks_on_one_pattern_are_one_series() -> None:
    client = Client()
    before = value(ROUTES, route="http/items/<int:pk>/", method="GET")
    series_before = len(route_series())
    for pk in range(100):
        assert client.get(f"/http/items/{pk}/").status_code == 200
    assert value(ROUTES, route="http/items/<int:pk>/", method="GET") - before == 100
    assert value(RESPONSES, route="http/items/<int:pk>/", status="200", method="GET") >= 100
    assert len(route_series()) - series_before <= 2  # one request, one response series


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/http/ok/", "http/ok/"),
        ("/http/items/7/", "http/items/<int:pk>/"),
        ("/http/legacy/1999/", resolve("/http/legacy/1999/").route),
        ("/http/nowhere/", "<unmatched>"),
    ],
)
def test_the_route_is_the_resolvers_pattern_never_the_path(path: str, route: str) -> None:
    client = Client()
    status = "404" if route == "<unmatched>" else "200"
    requests = value(ROUTES, route=route, method="GET")
    responses = value(RESPONSES, route=route, status=status, method="GET")
    assert client.get(path).status_code == int(status)
    assert value(ROUTES, route=route, method="GET") - requests == 1
    assert value(RESPONSES, route=route, status=status, method="GET") - responses == 1


def test_a_regex_route_keeps_its_regex() -> None:
    assert resolve("/http/legacy/1999/").route.endswith("legacy/(?P<year>[0-9]{4})/$")


async def test_routes_under_asgi() -> None:
    client = AsyncClient()
    before = value(ROUTES, route="http/async/ok/", method="POST")
    assert (await client.post("/http/async/ok/")).status_code == 200
    assert value(ROUTES, route="http/async/ok/", method="POST") - before == 1


def test_the_route_latency_histogram_is_opt_in() -> None:
    assert (
        REGISTRY.get_sample_value(
            "django_http_requests_latency_seconds_by_route_method_count",
            {"route": "http/ok/", "method": "GET"},
        )
        is None
    )  # not registered: PROMETHEUS_ROUTE_LATENCY is False in the test settings
    registry, chain = chain_on(PrometheusConfig(route_latency=True))
    request = RequestFactory().get("/http/items/3/")
    request.resolver_match = resolve("/http/items/3/")  # as Django's handler sets it
    assert chain(request).status_code == 200
    labels = {"route": "http/items/<int:pk>/", "method": "GET"}
    count = "django_http_requests_latency_seconds_by_route_method_count"
    assert registry.get_sample_value(count, labels) == 1.0


# --- in progress ------------------------------------------------------------------------


def test_in_progress_goes_up_and_down_around_a_request() -> None:
    with use_sinks(FakeSinks()) as fakes:
        Client().get("/http/ok/")
    assert fakes.http.calls[0] == RequestStarted("request_started", "GET")
    assert fakes.http.calls[-1] == RequestFinished("request_finished", "GET")
    before = value(IN_PROGRESS, method="GET")
    # A view that raises: Django answers 500, and the request still leaves.
    assert Client(raise_request_exception=False).get("/http/boom/").status_code == 500
    assert value(IN_PROGRESS, method="GET") - before == 0


def test_a_streaming_response_is_in_progress_until_closed() -> None:
    before = value(IN_PROGRESS, method="GET")
    response = Client().get("/http/stream/")
    assert value(IN_PROGRESS, method="GET") - before == 1
    # The test client closes the response once its content has been read.
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert value(IN_PROGRESS, method="GET") - before == 0


async def test_a_client_that_disconnects_under_asgi_is_no_longer_in_progress() -> None:
    before = value(IN_PROGRESS, method="GET")
    handler = ASGIHandler()
    sent: list[dict[str, object]] = []
    disconnect = asyncio.Event()

    async def receive() -> dict[str, object]:
        if not sent and not disconnect.is_set():
            disconnect.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(0.2)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/http/async/slow/",
        "raw_path": b"/http/async/slow/",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    task = asyncio.create_task(handler(scope, receive, send))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert value(IN_PROGRESS, method="GET") - before == 1
    if django.VERSION >= (5, 0):  # Django 5.0+ cancels the request when the client leaves
        await asyncio.wait_for(task, timeout=3)
        assert sent == []  # nothing was answered
    else:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert value(IN_PROGRESS, method="GET") - before == 0


# --- body-size buckets and disabled families ----------------------------------------------


Chain = Callable[[HttpRequest], HttpResponseBase]


def chain_on(config: PrometheusConfig) -> tuple[CollectorRegistry, Chain]:
    """Both middlewares around a view, recording into a registry of their own."""
    registry = CollectorRegistry()
    sink = PrometheusSinks(registry, config=config).http

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"x" * 700)

    before = PrometheusBeforeMiddleware(PrometheusAfterMiddleware(view, sink=sink), sink=sink)
    return registry, cast("Chain", before)


def test_body_size_buckets_come_from_the_setting() -> None:
    registry, chain = chain_on(PrometheusConfig(body_size_buckets=(0, 512, 1024, float("inf"))))
    chain(RequestFactory().post("/x/", data=b"y" * 600, content_type="text/plain"))
    bucket = "django_http_responses_body_total_bytes_bucket"
    assert [
        registry.get_sample_value(bucket, {"le": le}) for le in ("0.0", "512.0", "1024.0", "+Inf")
    ] == [0.0, 0.0, 1.0, 1.0]
    assert (
        registry.get_sample_value("django_http_requests_body_total_bytes_bucket", {"le": "1024.0"})
        == 1.0
    )


def test_a_disabled_family_is_neither_registered_nor_recorded() -> None:
    disabled = PrometheusConfig(
        disabled_metrics=[  # type: ignore[arg-type]
            "django_http_responses_total_by_charset_total",
            "django_http_requests_in_progress",
            "django_http_requests_total_by_route_method",
        ]
    )
    registry, chain = chain_on(disabled)
    with use_sinks(FakeSinks()) as fakes:  # our errors would land here
        assert chain(RequestFactory().get("/x/")).status_code == 200
    names = {family.name for family in registry.collect()}
    assert "django_http_responses_total_by_charset" not in names
    assert "django_http_requests_in_progress" not in names
    assert "django_http_requests_total_by_route_method" not in names
    assert "django_http_responses_total_by_status" in names
    by_status = "django_http_responses_total_by_status_total"
    assert registry.get_sample_value(by_status, {"status": "200"}) == 1.0
    assert fakes.errors.calls == []
