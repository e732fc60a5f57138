"""The fast renderer writes exactly prometheus_client's bytes, for every Accept header a
scraper sends, every metric type and awkward value, across scrapes that change things."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

import prometheus_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from django_prometheus import state
from django_prometheus.exposition import render_metrics
from django_prometheus.exposition.formats import (
    OPENMETRICS,
    TEXT,
    VERIFIED_VERSIONS,
    fast_format,
    go_float,
)

# Only in CI's Django 5.2 leg: prometheus_client's encoder, the same on every Django line.
pytestmark = pytest.mark.django_independent

PROMETHEUS_3: Final = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROMETHEUS_2: Final = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
ACCEPTS: Final = (
    PROMETHEUS_3,
    PROMETHEUS_2,
    PROMETHEUS_3.replace("allow-utf-8", "underscores"),
    "application/openmetrics-text;version=1.0.0;escaping=underscores",
    "text/plain;version=1.0.0;escaping=underscores",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "text/plain;version=1.0.0;escaping=dots",
    "application/openmetrics-text;version=1.0.0;escaping=values",
    "application/openmetrics-text;version=2.0.0",
    "application/openmetrics-text",
    "",
    "text/plain",
    "*/*",
    # Malformed: choose_encoder raises on these, and the text format is served.
    "application/openmetrics-text;version=abc",
    "text/plain;version=x.y",
    ";;;,,=",
)


def _expected(registry: Collector, accept: str) -> tuple[bytes, str]:
    try:
        encoder, content_type = choose_encoder(accept)
    except Exception:
        encoder, content_type = choose_encoder("")
    return encoder(registry), content_type


def _assert_identical(registry: Collector, accept: str) -> None:
    body, content_type = _expected(registry, accept)
    exposition = render_metrics(registry, accept=accept)
    assert exposition.content_type == content_type
    assert exposition.body.decode() == body.decode()
    assert exposition.body == body


# ------------------------------------------------------------------ generated registries

_SPECIAL_FLOATS: Final = (0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e-300, 5e-324)
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_SPECIAL_FLOATS),
    st.sampled_from((1e10, 12345678.0, 1234567.0, 9999999.5, 1.5e16, 1e22, 123456789012.25)),
    st.integers(min_value=-(10**12), max_value=10**12),
)
_label_values = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=8),
    st.sampled_from(('"', "\\", "\n", 'a"b\\c\nd', "é", "日本", "\\n", "{}", "_bucket{")),
)
_names = st.from_regex(r"\A[a-z_][a-z0-9_]{0,6}\Z")
_label_names = st.lists(
    st.from_regex(r"\A[a-z][a-z0-9_]{0,4}\Z").filter(lambda n: n not in ("le", "quantile")),
    max_size=3,
    unique=True,
)
_KINDS: Final = ("counter", "gauge", "histogram", "summary")
_BUCKETS: Final = ((0.005, 0.1, 1.0, 10.0), (-5.0, 0.0, 5.0), (1.0, 1e7, 12345678.0), (0.5,))


@dataclass
class Spec:
    kind: str
    name: str
    documentation: str
    label_names: list[str]
    namespace: str
    unit: str
    buckets: tuple[float, ...]
    children: list[tuple[list[str], list[float | int]]] = field(default_factory=list)
    exemplar: bool = False


@st.composite
def _specs(draw: st.DrawFn) -> list[Spec]:
    specs = []
    for index in range(draw(st.integers(min_value=1, max_value=5))):
        kind = draw(st.sampled_from(_KINDS))
        label_names = draw(_label_names)
        children = draw(
            st.lists(
                st.tuples(
                    st.lists(_label_values, min_size=len(label_names), max_size=len(label_names)),
                    st.lists(_numbers, min_size=1, max_size=3),
                ),
                max_size=3 if label_names else 1,
            )
        )
        specs.append(
            Spec(
                kind=kind,
                name=f"m{index}{draw(_names)}",
                documentation=draw(_label_values),
                label_names=label_names,
                namespace=draw(st.sampled_from(("", "django", "ns_x"))),
                unit=draw(st.sampled_from(("", "seconds", "bytes"))),
                buckets=draw(st.sampled_from(_BUCKETS)),
                children=children,
                exemplar=draw(st.booleans()),
            )
        )
    return specs


def _build(spec: Spec, registry: CollectorRegistry) -> MetricWrapperBase:
    common = {
        "name": spec.name,
        "documentation": spec.documentation,
        "labelnames": spec.label_names,
        "namespace": spec.namespace,
        "unit": spec.unit,
        "registry": registry,
    }
    if spec.kind == "histogram":
        return Histogram(**common, buckets=spec.buckets)  # type: ignore[arg-type]
    kinds: dict[str, type[MetricWrapperBase]] = {
        "counter": Counter,
        "gauge": Gauge,
        "summary": Summary,
    }
    return kinds[spec.kind](**common)  # type: ignore[arg-type]


def _move(metric: MetricWrapperBase, spec: Spec, values: list[float | int]) -> None:
    exemplar = {"trace_id": 'a"b\\c', "span": "é"} if spec.exemplar else None
    for number in values:
        if isinstance(metric, Counter):
            if number == number and 0 <= number < float("inf"):
                metric.inc(number, exemplar=exemplar)
            else:
                metric._value.set(number)  # NaN, ±inf, negatives: only by hand
        elif isinstance(metric, Gauge):
            metric._value.set(number)  # ints stay ints
        elif isinstance(metric, Histogram):
            metric.observe(number, exemplar=exemplar)
        else:
            assert isinstance(metric, Summary)
            metric.observe(number)


class _Custom:
    """A collector of the kind users write: prometheus_client renders it."""

    def __init__(self, value: float) -> None:
        self.value = value

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("custom_gauge", "Custom \\ gauge", value=self.value)
        counter = CounterMetricFamily("custom_requests", "Custom", labels=["code"])
        counter.add_metric(["200"], self.value, created=1234567890.5)
        yield counter


class _SubCounter(Counter):
    """A subclass may change any sample: left to prometheus_client."""


def _populate(
    specs: list[Spec], custom_at: int
) -> tuple[CollectorRegistry, list[MetricWrapperBase]]:
    registry = CollectorRegistry()
    metrics = []
    for index, spec in enumerate(specs):
        if index == custom_at:
            registry.register(_Custom(2.5))
        metric = _build(spec, registry)
        metrics.append(metric)
        for label_values, values in spec.children:
            _move(metric.labels(*label_values) if spec.label_names else metric, spec, values)
    return registry, metrics


@pytest.fixture
def created_series() -> Iterator[Callable[[bool], None]]:
    was = prometheus_client.metrics._use_created

    def switch(on: bool) -> None:
        if on:
            prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]
        else:
            prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

    yield switch
    switch(was)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=_specs(),
    custom_at=st.integers(min_value=0, max_value=5),
    created=st.booleans(),
    changes=st.lists(_numbers, min_size=1, max_size=3),
)
def test_every_accept_header_gets_prometheus_clients_bytes_across_scrapes(
    specs: list[Spec],
    custom_at: int,
    created: bool,
    changes: list[float | int],
    created_series: Callable[[bool], None],
) -> None:
    created_series(created)
    registry, metrics = _populate(specs, custom_at)
    for accept in ACCEPTS:
        _assert_identical(registry, accept)
    # Values change, children come and go: nothing stale may be served.
    for spec, metric in zip(specs, metrics, strict=True):
        if spec.label_names:
            children = list(metric._metrics)
            if children:
                metric.remove(*children[0])
            added = metric.labels(*[f"new{i}" for i in range(len(spec.label_names))])
            _move(added, spec, changes)
            for key in list(metric._metrics):
                _move(metric._metrics[key], spec, changes)
        else:
            _move(metric, spec, changes)
    for accept in (PROMETHEUS_3, PROMETHEUS_2, "", PROMETHEUS_3, PROMETHEUS_2, ""):
        _assert_identical(registry, accept)


@pytest.mark.parametrize("accept", ACCEPTS)
def test_collectors_prometheus_client_renders_keep_their_place(accept: str) -> None:
    registry = CollectorRegistry(target_info={"service": 'we"b'})
    Counter("before", "B", registry=registry).inc()
    Info("build", "Build", registry=registry).info({"version": "1.0"})
    Enum("state", "State", states=["a", "b"], registry=registry)
    Gauge("fn", "Function", registry=registry).set_function(lambda: 3)
    labelled = Gauge("fn_children", "Function children", ["x"], registry=registry)
    labelled.labels("plain").set(1)
    labelled.labels("function").set_function(lambda: 7)
    _SubCounter("sub", "Subclass", registry=registry).inc(2)
    Counter("with:colon", "Colon", registry=registry).inc()
    registry.register(_Custom(1.0))
    Histogram("after", "A", ["le_x"], registry=registry).labels("1").observe(0.2)
    for _ in range(2):
        _assert_identical(registry, accept)


@pytest.mark.parametrize("accept", [PROMETHEUS_3, PROMETHEUS_2, ""])
@pytest.mark.parametrize(
    "names", [["a_total"], ["h_bucket", "h_count"], ["a_total", "custom_gauge", "target_info"]]
)
def test_the_name_filter_gives_prometheus_clients_bytes(accept: str, names: list[str]) -> None:
    registry = CollectorRegistry(target_info={"a": "b"})
    Counter("a", "A", ["x"], registry=registry).labels("1").inc()
    Histogram("h", "H", registry=registry).observe(3)
    registry.register(_Custom(1.0))
    encoder, _ = choose_encoder(accept)
    expected = encoder(registry.restricted_registry(names))
    assert render_metrics(registry, accept=accept, names=names).body == expected


def test_the_scrapers_formats_take_the_fast_path_and_others_do_not() -> None:
    assert fast_format(choose_encoder(PROMETHEUS_3)[0]) is OPENMETRICS
    assert fast_format(choose_encoder(PROMETHEUS_2)[0]) is OPENMETRICS
    assert fast_format(choose_encoder("")[0]) is TEXT
    assert fast_format(choose_encoder(PROMETHEUS_3)[0], installed="0.19.0") is None
    assert fast_format(choose_encoder("")[0], installed="0.27.0") is None
    assert fast_format(lambda registry: b"") is None
    assert prometheus_client_version() in VERIFIED_VERSIONS


def prometheus_client_version() -> str:
    from importlib.metadata import version

    return version("prometheus-client")


@pytest.mark.parametrize(
    "number",
    [*_SPECIAL_FLOATS, 1.0, 1234567.0, 12345678.0, 1e10, 1.5e16, 1e22, 0.1, -1e10, 7, 10**12],
)
def test_go_float_is_float_to_go_string(number: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert go_float(number) == floatToGoString(number)  # type: ignore[no-untyped-call]


def test_cached_lines_die_with_their_metric_and_children() -> None:
    registry = CollectorRegistry()
    counter = Counter("gone", "Gone", ["x"], registry=registry)
    for value in ("a", "b", "c"):
        counter.labels(value).inc()
    render_metrics(registry)
    lines = state.exposition_families[counter]
    assert set(lines.children) == {("a",), ("b",), ("c",)}
    counter.remove("a")
    counter.remove("b")
    render_metrics(registry)
    assert set(lines.children) == {("c",)}
    registry.unregister(counter)
    del counter, lines
    gc.collect()
    assert all(metric._name != "gone" for metric in state.exposition_families)
