"""PROMETHEUS_EXEMPLARS through the real middleware stack: a callable's labels and the
current OpenTelemetry span reach the latency histograms and the responses-by-status
counters, visible in the OpenMetrics exposition; a broken source is counted and the
observation kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY
from prometheus_client.openmetrics.exposition import generate_latest

from django_prometheus.checks import multiprocess_messages
from django_prometheus.config import PrometheusConfig, load_config
from django_prometheus.testing import ExemplarAttached, FakeSinks, use_sinks
from tests.integration.test_http import DEFAULT_MIDDLEWARE

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(autouse=True)
def _default_middleware() -> Iterator[None]:
    with override_settings(MIDDLEWARE=DEFAULT_MIDDLEWARE):
        yield


def exemplars(name: str, **labels: str) -> list[str]:
    """The exemplars of the OpenMetrics sample lines of ``name`` that carry ``labels``."""
    text: str = generate_latest(REGISTRY).decode()  # type: ignore[no-untyped-call]
    found = []
    for line in text.splitlines():
        sample, _, exemplar = line.partition(" # ")
        if (
            exemplar
            and sample.startswith(name + "{")
            and all(f'{key}="{value}"' in sample for key, value in labels.items())
        ):
            found.append(exemplar)
    return found


@override_settings(PROMETHEUS_EXEMPLARS="tests.testapp.exemplars.from_header")
def test_a_callables_labels_reach_latency_and_status_series() -> None:
    with use_sinks(FakeSinks()) as fakes:
        Client().get("/http/ok/", headers={"X-Trace": TRACE})
    attached = [call for call in fakes.http.calls if isinstance(call, ExemplarAttached)]
    assert [call.observed_by for call in attached] == [
        "response_sent",
        "request_timed",
        "response_routed",
        "response_left",
    ]
    assert {tuple(call.labels.items()) for call in attached} == {(("trace_id", TRACE),)}

    Client().get("/http/ok/", headers={"X-Trace": TRACE})
    wanted = f'{{trace_id="{TRACE}"}}'
    for name, labels in [
        ("django_http_requests_latency_seconds_by_view_method_bucket", {"view": "http-ok"}),
        ("django_http_requests_latency_including_middlewares_seconds_bucket", {}),
        ("django_http_responses_total_by_status_total", {"status": "200"}),
        ("django_http_responses_total_by_status_view_method_total", {"view": "http-ok"}),
        ("django_http_responses_total_by_route_status_method_total", {"route": "http/ok/"}),
    ]:
        assert any(part.startswith(wanted) for part in exemplars(name, **labels)), name


@override_settings(PROMETHEUS_EXEMPLARS="tests.testapp.exemplars.from_header")
def test_no_labels_no_exemplar() -> None:
    with use_sinks(FakeSinks()) as fakes:
        Client().get("/http/ok/")
    assert not [call for call in fakes.http.calls if isinstance(call, ExemplarAttached)]


@pytest.mark.parametrize("source", ["broken", "too_long"])
def test_a_broken_source_is_counted_and_the_observation_kept(source: str) -> None:
    setting = override_settings(PROMETHEUS_EXEMPLARS=f"tests.testapp.exemplars.{source}")
    with setting, use_sinks(FakeSinks()) as fakes:
        response = Client().get("/http/ok/")
    assert response.status_code == 200
    assert fakes.errors.calls == [("instrumentation_failed", "http")]  # once per request
    assert ("request_timed", "http-ok", "GET") == fakes.http.calls[
        fakes.http.events().index("request_timed")
    ][:3]
    assert not [call for call in fakes.http.calls if isinstance(call, ExemplarAttached)]


@override_settings(PROMETHEUS_EXEMPLARS="opentelemetry")
def test_the_current_opentelemetry_span_is_the_exemplar() -> None:
    tracer = TracerProvider().get_tracer("django-prometheus tests")
    with use_sinks(FakeSinks()) as fakes, tracer.start_as_current_span("a request") as span:
        Client().get("/http/ok/")
    context = span.get_span_context()
    attached = [call for call in fakes.http.calls if isinstance(call, ExemplarAttached)]
    assert attached
    assert attached[0].labels == {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def test_without_a_current_span_there_is_no_exemplar() -> None:
    with override_settings(PROMETHEUS_EXEMPLARS="opentelemetry"), use_sinks(FakeSinks()) as fakes:
        Client().get("/http/ok/")
    assert not [call for call in fakes.http.calls if isinstance(call, ExemplarAttached)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "tests.testapp.exemplars.missing",
            "PROMETHEUS_EXEMPLARS = 'tests.testapp.exemplars.missing' cannot be imported",
        ),
        (
            "tests.testapp.exemplars.NOT_CALLABLE",
            "PROMETHEUS_EXEMPLARS = 'tests.testapp.exemplars.NOT_CALLABLE' is not callable",
        ),
        (42, "expected None, 'opentelemetry' or the dotted path of a callable"),
    ],
)
def test_a_bad_setting_is_refused_by_name(value: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        load_config(SimpleNamespace(PROMETHEUS_EXEMPLARS=value), {})
    assert re.search(re.escape(message), str(raised.value))
    assert str(raised.value).startswith(
        f"Invalid django-prometheus configuration:\n  PROMETHEUS_EXEMPLARS = {value!r}: "
    )


def test_multiprocess_mode_with_exemplars_is_warned_about(tmp_path: Path) -> None:
    config = PrometheusConfig(multiproc_dir=str(tmp_path), exemplars="opentelemetry")
    assert [message.id for message in multiprocess_messages(config, {})] == [
        "django_prometheus.W009"
    ]
    plain = PrometheusConfig(multiproc_dir=str(tmp_path))
    assert multiprocess_messages(plain, {}) == []
