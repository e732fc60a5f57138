"""use_sinks reaches every instrument Django builds, through django.test.Client.

Each test makes one request whose view queries a connection opened before the
block, gets a cache key and saves a model with the mixin, and checks that the
events land in the fakes and that no series of the registry moves, then that the
next request after the block moves the series again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import AsyncClient, Client, override_settings
from prometheus_client import REGISTRY, CollectorRegistry

from django_prometheus.testing import (
    FakeDbSink,
    FakeHttpSink,
    FakeSinks,
    InstrumentationFailed,
    QueryExecuted,
    ResponseSent,
    use_sinks,
)
from django_prometheus.testutils import MetricsSnapshot
from tests.testapp.custom_metrics import CUSTOM_REGISTRY

DEFAULT_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
LABEL_METRIC_MIDDLEWARE = [
    "tests.testapp.custom_metrics.AppMetricsBeforeMiddleware",
    "tests.testapp.custom_metrics.AppMetricsAfterMiddleware",
]
OUR_CACHE = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
        "LOCATION": "use-sinks",
    }
}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def django_samples(registry: CollectorRegistry) -> Samples:
    """Every django_* sample but the creation times."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        if metric.name.startswith("django")
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def moved(before: Samples, registry: CollectorRegistry) -> Samples:
    """The samples whose value changed; a series made meanwhile counts from 0."""
    return {
        key: value
        for key, value in django_samples(registry).items()
        if value != before.get(key, 0.0)
    }


@pytest.fixture
def project() -> Iterator[None]:
    with override_settings(
        ROOT_URLCONF="tests.testapp.urls_seam", MIDDLEWARE=DEFAULT_MIDDLEWARE, CACHES=OUR_CACHE
    ):
        yield


@pytest.fixture
def open_connection() -> None:
    """The default connection, opened (and used) before any block starts."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def assert_every_instrument_recorded(fakes: FakeSinks) -> None:
    http = fakes.http.events()
    assert (http[0], http[1], http[-2], http[-1]) == (
        "request_started",
        "request_entered",
        "response_left",
        "request_finished",
    )
    assert ("request_routed", "visit/", "GET") in fakes.http.calls
    sent = [call for call in fakes.http.calls if isinstance(call, ResponseSent)]
    assert [(call.status, call.view, call.method) for call in sent] == [("200", "visit", "GET")]
    queries = [call for call in fakes.db.calls if isinstance(call, QueryExecuted)]
    # The count, and the save's INSERT; on the alias and vendor of the open connection.
    assert [(call.alias, call.vendor) for call in queries] == [("default", "sqlite")] * 2
    assert fakes.db.events().count("connection_opened") == 0
    assert [call[:3] for call in fakes.cache.calls] == [
        ("bind", "locmem"),
        ("get_finished", "locmem", "miss"),
    ]
    assert fakes.model.calls == [("bind", "dog"), ("model_inserted", "dog")]
    assert fakes.errors.calls == []


def assert_the_data_layer_moves_again(snapshot: MetricsSnapshot) -> None:
    snapshot.assert_diff(2, "django_db_execute_total", alias="default", vendor="sqlite")
    snapshot.assert_diff(1, "django_cache_get_misses_total", backend="locmem")
    snapshot.assert_diff(1, "django_model_inserts_total", model="dog")


@pytest.mark.django_db
@pytest.mark.usefixtures("project", "open_connection")
def test_one_request_records_into_the_fakes_and_moves_no_series() -> None:
    client = Client()
    before = django_samples(REGISTRY)
    with use_sinks(FakeSinks()) as fakes:
        assert client.get("/visit/").status_code == 200
    assert moved(before, REGISTRY) == {}
    assert_every_instrument_recorded(fakes)

    snapshot = MetricsSnapshot()
    assert client.get("/visit/").status_code == 200
    assert_the_data_layer_moves_again(snapshot)
    snapshot.assert_diff(
        1,
        "django_http_responses_total_by_status_view_method_total",
        status="200",
        view="visit",
        method="GET",
    )
    assert fakes.http.events().count("request_entered") == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("project", "open_connection")
def test_the_fixture_does_the_same_for_the_whole_test(fake_sinks: FakeSinks) -> None:
    before = django_samples(REGISTRY)
    assert Client().get("/visit/").status_code == 200
    assert moved(before, REGISTRY) == {}
    assert_every_instrument_recorded(fake_sinks)


@pytest.mark.django_db
@pytest.mark.usefixtures("project", "open_connection")
def test_a_label_metric_subclass_in_middleware_records_into_the_fakes_too() -> None:
    client = Client()
    with override_settings(MIDDLEWARE=LABEL_METRIC_MIDDLEWARE):
        before, before_custom = django_samples(REGISTRY), django_samples(CUSTOM_REGISTRY)
        with use_sinks(FakeSinks()) as fakes:
            assert client.get("/visit/").status_code == 200
        assert moved(before, REGISTRY) == {}
        assert moved(before_custom, CUSTOM_REGISTRY) == {}
        assert_every_instrument_recorded(fakes)

        custom = MetricsSnapshot(CUSTOM_REGISTRY)
        snapshot = MetricsSnapshot()
        assert client.get("/visit/").status_code == 200
    assert_the_data_layer_moves_again(snapshot)
    # label_metric is called again: its extra labels are on the series.
    custom.assert_diff(
        1,
        "django_http_responses_total_by_status_view_method_total",
        status="200",
        view="visit",
        method="GET",
        view_type="foo",
        user_agent_type="browser",
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("project", "open_connection")
async def test_under_asgi_the_fakes_see_the_request_too() -> None:
    client = AsyncClient()
    before = django_samples(REGISTRY)
    with use_sinks(FakeSinks()) as fakes:
        response = await client.get("/visit/")
        assert response.status_code == 200
    assert moved(before, REGISTRY) == {}
    http = fakes.http.events()
    assert (http[0], http[-1]) == ("request_started", "request_finished")
    # The sync view ran in a worker thread, on that thread's connection.
    assert [call.event for call in fakes.db.calls if call.event != "connection_opened"] == [
        "bind",
        "query_executed",
        "query_executed",
    ]
    assert fakes.cache.events() == ["bind", "get_finished"]
    assert fakes.model.calls == [("bind", "dog"), ("model_inserted", "dog")]

    snapshot = MetricsSnapshot()
    assert (await client.get("/visit/")).status_code == 200
    snapshot.assert_diff(1, "django_model_inserts_total", model="dog")
    snapshot.assert_diff(
        1,
        "django_http_requests_total_by_view_transport_method_total",
        view="visit",
        transport="http",
        method="GET",
    )


class RaisingHttpSink(FakeHttpSink):
    def request_received(self, method: str, transport: str, ajax: bool, body_bytes: int) -> None:
        raise RuntimeError("broken fake")


class UnbindableDbSink(FakeDbSink):
    def bind(self, alias: str, vendor: str) -> object:  # type: ignore[override]
        raise RuntimeError("broken fake")


@pytest.mark.django_db
@pytest.mark.usefixtures("project", "open_connection")
def test_instrumentation_failures_inside_the_block_land_in_the_fake_error_sink() -> None:
    before = django_samples(REGISTRY)
    fakes = FakeSinks(http=RaisingHttpSink(), db=UnbindableDbSink())
    with use_sinks(fakes):
        response = Client().get("/visit/")
    assert response.status_code == 200
    assert response.content == b"0 None"
    assert moved(before, REGISTRY) == {}
    assert fakes.errors.calls == [
        InstrumentationFailed("instrumentation_failed", "http"),
        InstrumentationFailed("instrumentation_failed", "db"),
    ]


def readme_testing_examples() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = readme.split("```python\n")
    (block,) = [text.split("```")[0] for text in blocks if "def test_home_answers_200" in text]
    return block


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.testapp.urls", MIDDLEWARE=DEFAULT_MIDDLEWARE)
def test_the_readme_examples_pass_as_written() -> None:
    namespace: dict[str, Any] = {}
    exec(readme_testing_examples(), namespace)  # noqa: S102 - our own README
    namespace["test_home_answers_200"](Client())
    with use_sinks(FakeSinks()) as fake_sinks:
        namespace["test_home_with_the_fixture"](Client(), fake_sinks)
