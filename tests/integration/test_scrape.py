"""One scrape answer for both servers: the Django view and the port exporter agree on
every status and header, a failing collector answers 503 (counted), and pre-scrape
hooks run before each scrape."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from pytest_django.fixtures import Settings

from django_prometheus.exports import start_port_exporter, stop_port_exporters
from django_prometheus.scrape import add_pre_scrape_hook, remove_pre_scrape_hook
from django_prometheus.testing import FakeSinks, InstrumentationFailed, use_sinks

TOKEN = "scrape-token-0123456789abcdef"
# Headers whose value the two servers must agree on.
COMPARED = ("Content-Type", "Cache-Control", "Vary", "Allow", "WWW-Authenticate")


@pytest.fixture(autouse=True)
def export_urls(settings: Settings) -> None:
    settings.ROOT_URLCONF = "tests.testapp.urls_export"


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr("sys.argv", ["/usr/bin/gunicorn", "project.wsgi"])
    exporter = start_port_exporter(0, "127.0.0.1")
    yield exporter.port
    stop_port_exporters()


def on_port(port: int, method: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = {} if authorization is None else {"Authorization": authorization}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def on_view(
    client: Client, method: str, authorization: str | None
) -> tuple[int, dict[str, str], bytes]:
    extra = {"REMOTE_ADDR": "127.0.0.1"}
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    response = client.generic(method, "/metrics", **extra)  # type: ignore[arg-type]
    return response.status_code, dict(response.headers), response.content


def compared(headers: dict[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in COMPARED if name in headers}


@pytest.mark.parametrize(
    ("networks", "method", "authorization", "status"),
    [
        (["127.0.0.0/8"], "GET", f"Bearer {TOKEN}", 200),
        (["127.0.0.0/8"], "HEAD", f"Bearer {TOKEN}", 200),
        (["127.0.0.0/8"], "GET", None, 401),
        (["127.0.0.0/8"], "GET", "Bearer wrong-token", 401),
        (["192.0.2.0/24"], "GET", f"Bearer {TOKEN}", 403),
        (["127.0.0.0/8"], "POST", f"Bearer {TOKEN}", 405),
        (["127.0.0.0/8"], "DELETE", f"Bearer {TOKEN}", 405),
        (["192.0.2.0/24"], "POST", f"Bearer {TOKEN}", 403),
    ],
)
def test_the_view_and_the_port_give_the_same_answer(
    client: Client,
    settings: Settings,
    port: int,
    networks: list[str],
    method: str,
    authorization: str | None,
    status: int,
) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = networks
    settings.PROMETHEUS_METRICS_BEARER_TOKEN = TOKEN
    view_status, view_headers, view_body = on_view(client, method, authorization)
    port_status, port_headers, port_body = on_port(port, method, authorization)
    assert (view_status, port_status) == (status, status)
    assert compared(view_headers) == compared(port_headers)
    assert view_headers["Cache-Control"] == "no-store, private"
    assert view_headers["Vary"] == "Accept, Accept-Encoding, Authorization"
    if status != 200:  # a scrape's body differs by the scrape itself (the port's own series)
        assert view_body == port_body
    if status == 405:
        assert view_headers["Allow"] == "GET, HEAD"


class BrokenCollector:
    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        raise RuntimeError("the collector broke")


@pytest.fixture
def broken_collector() -> Iterator[None]:
    collector = BrokenCollector()
    REGISTRY.register(collector)
    yield
    REGISTRY.unregister(collector)


@pytest.mark.usefixtures("broken_collector")
def test_a_failing_collector_answers_503_and_is_counted(client: Client, port: int) -> None:
    with use_sinks(FakeSinks()) as fakes:
        view = on_view(client, "GET", None)
        on_the_port = on_port(port, "GET", None)
    assert view[0] == on_the_port[0] == 503
    assert view[2] == on_the_port[2] == b"Metrics unavailable\n"
    assert fakes.errors.calls == [InstrumentationFailed("instrumentation_failed", "export")] * 2


def test_pre_scrape_hooks_run_before_each_scrape_and_a_failing_one_is_counted(
    client: Client, port: int
) -> None:
    ran: list[str] = []

    def hook() -> None:
        ran.append("hook")

    def failing_hook() -> None:
        raise RuntimeError("the hook broke")

    add_pre_scrape_hook(hook)
    add_pre_scrape_hook(hook)  # once, however often added
    add_pre_scrape_hook(failing_hook)
    try:
        with use_sinks(FakeSinks()) as fakes:
            assert on_view(client, "GET", None)[0] == 200
            assert on_port(port, "GET", None)[0] == 200
            assert on_view(client, "POST", None)[0] == 405  # no scrape, no hook
    finally:
        remove_pre_scrape_hook(hook)
        remove_pre_scrape_hook(failing_hook)
    assert ran == ["hook", "hook"]
    assert fakes.errors.calls == [InstrumentationFailed("instrumentation_failed", "export")] * 2
    assert on_view(client, "GET", None)[0] == 200
    assert ran == ["hook", "hook"]
