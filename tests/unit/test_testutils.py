"""testutils reads exactly the series asked for, from the registry given, and explains failures."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from django_prometheus.testutils import (
    FrozenRegistry,
    MetricsSnapshot,
    assert_metric_compare,
    assert_metric_diff,
    assert_metric_equal,
    assert_metric_no_diff,
    assert_metric_not_equal,
    format_labels,
    format_vector,
    get_metric,
    get_metric_from_frozen_registry,
    get_metric_vector_from_frozen_registry,
    get_metrics_vector,
    save_registry,
)

GLOBAL_PROBE = "django_prometheus_testutils_probe"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def requests(registry: CollectorRegistry) -> Counter:
    return Counter("requests", "Requests.", ("method", "view"), registry=registry)


@pytest.fixture
def latency(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "latency_seconds", "Latency.", ("view",), buckets=(0.5, 1.0), registry=registry
    )


@pytest.fixture
def global_probe() -> Iterator[Counter]:
    counter = Counter(GLOBAL_PROBE, "A probe in the global registry.", ("kind",))
    yield counter
    REGISTRY.unregister(counter)


def _two_requests(requests: Counter) -> None:
    requests.labels("GET", "home").inc(2)
    requests.labels("POST", "login").inc()


# --- formatting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, "{}"),
        ({"method": "GET"}, '{method="GET"}'),
        # As django-prometheus 2.5.0 writes them: in the order given, nothing escaped.
        ({"view": "x", "method": "GET"}, '{view="x",method="GET"}'),
        ({"le": "+Inf"}, '{le="+Inf"}'),
        ({"path": 'a"b\\c\nd'}, '{path="a"b\\c\nd"}'),
        ({"empty": ""}, '{empty=""}'),
    ],
)
def test_format_labels(labels: dict[str, str], expected: str) -> None:
    assert format_labels(labels) == expected


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        ([], ""),
        ([({}, 1)], "{} = 1"),
        (
            [({"method": "POST"}, 1.0), ({"method": "GET"}, 2.5)],
            '{method="POST"} = 1.0\n{method="GET"} = 2.5',
        ),
        ([({"a": "1", "b": "2"}, float("inf"))], '{a="1",b="2"} = inf'),
    ],
)
def test_format_vector(vector: list[tuple[dict[str, str], float]], expected: str) -> None:
    assert format_vector(vector) == expected


# --- reading ------------------------------------------------------------------------------


def test_get_metric_reads_the_sample_with_exactly_these_labels(
    registry: CollectorRegistry, requests: Counter
) -> None:
    _two_requests(requests)
    assert get_metric("requests_total", registry, method="GET", view="home") == 2.0
    assert get_metric("requests_total", registry=registry, method="POST", view="login") == 1.0
    # A subset, a superset or other values of the labels name no series.
    assert get_metric("requests_total", registry, method="GET") is None
    assert get_metric("requests_total", registry, method="GET", view="home", x="1") is None
    assert get_metric("requests_total", registry, method="GET", view="login") is None


def test_get_metric_wants_the_sample_name_not_the_family_name(
    registry: CollectorRegistry, requests: Counter
) -> None:
    _two_requests(requests)
    assert get_metric("requests", registry, method="GET", view="home") is None


def test_get_metric_of_a_missing_metric_is_none(registry: CollectorRegistry) -> None:
    assert get_metric("nothing_total", registry) is None
    assert get_metrics_vector("nothing_total", registry) == []


def test_get_metric_without_labels(registry: CollectorRegistry) -> None:
    Gauge("temperature", "Temperature.", registry=registry).set(-3.5)
    assert get_metric("temperature", registry) == -3.5
    assert get_metrics_vector("temperature", registry) == [({}, -3.5)]


def test_get_metrics_vector_lists_every_series(
    registry: CollectorRegistry, requests: Counter
) -> None:
    _two_requests(requests)
    assert get_metrics_vector("requests_total", registry) == [
        ({"method": "GET", "view": "home"}, 2.0),
        ({"method": "POST", "view": "login"}, 1.0),
    ]
    assert get_metrics_vector("requests_total", registry=registry) == get_metrics_vector(
        "requests_total", registry
    )


def test_histogram_samples(registry: CollectorRegistry, latency: Histogram) -> None:
    latency.labels("home").observe(0.25)
    latency.labels("home").observe(0.75)
    latency.labels("home").observe(3.0)
    assert get_metric("latency_seconds_count", registry, view="home") == 3.0
    assert get_metric("latency_seconds_sum", registry, view="home") == 4.0
    assert get_metric("latency_seconds_bucket", registry, view="home", le="0.5") == 1.0
    assert get_metric("latency_seconds_bucket", registry, view="home", le="1.0") == 2.0
    assert get_metric("latency_seconds_bucket", registry, view="home", le="+Inf") == 3.0
    # The bucket label is part of the series: without it there is no bucket sample.
    assert get_metric("latency_seconds_bucket", registry, view="home") is None
    assert get_metric("latency_seconds_bucket", registry, view="home", le="1") is None
    assert get_metrics_vector("latency_seconds_bucket", registry) == [
        ({"view": "home", "le": "0.5"}, 1.0),
        ({"view": "home", "le": "1.0"}, 2.0),
        ({"view": "home", "le": "+Inf"}, 3.0),
    ]


def test_histogram_assertions(registry: CollectorRegistry, latency: Histogram) -> None:
    latency.labels("home").observe(0.75)
    before = save_registry(registry)
    latency.labels("home").observe(0.25)
    assert_metric_equal(2, "latency_seconds_count", registry, view="home")
    assert_metric_equal(1, "latency_seconds_bucket", registry, view="home", le="0.5")
    assert_metric_diff(before, 1, "latency_seconds_count", registry, view="home")
    assert_metric_diff(before, 0.25, "latency_seconds_sum", registry, view="home")
    assert_metric_diff(before, 1, "latency_seconds_bucket", registry, view="home", le="0.5")
    assert_metric_diff(before, 1, "latency_seconds_bucket", registry, view="home", le="1.0")
    assert_metric_diff(before, 1, "latency_seconds_bucket", registry, view="home", le="+Inf")
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_diff(before, 2, "latency_seconds_bucket", registry, view="home", le="0.5")
    assert str(excinfo.value) == (
        'latency_seconds_bucket{le="0.5",view="home"}: expected a change of 2, got 1.0 '
        "(before: 0.0, now: 1.0)\n"
        "All values of latency_seconds_bucket before:\n"
        '    {le="+Inf",view="home"} 1.0\n'
        '    {le="0.5",view="home"} 0.0\n'
        '    {le="1.0",view="home"} 1.0\n'
        "All values of latency_seconds_bucket now:\n"
        '    {le="+Inf",view="home"} 2.0\n'
        '    {le="0.5",view="home"} 1.0\n'
        '    {le="1.0",view="home"} 2.0'
    )


def test_float_values_compare_exactly_as_in_django_prometheus(
    registry: CollectorRegistry, latency: Histogram
) -> None:
    latency.labels("home").observe(0.1)
    snapshot = MetricsSnapshot(registry)
    before = save_registry(registry)
    latency.labels("home").observe(0.2)
    assert 0.1 + 0.2 != 0.3
    with pytest.raises(AssertionError, match=r"expected 0\.3, got 0\.30000000000000004\n"):
        assert_metric_equal(0.3, "latency_seconds_sum", registry, view="home")
    assert_metric_equal(0.1 + 0.2, "latency_seconds_sum", registry, view="home")
    assert_metric_not_equal(0.3, "latency_seconds_sum", registry, view="home")
    with pytest.raises(AssertionError, match=r"expected a change of 0\.2, got 0\.2000000000"):
        assert_metric_diff(before, 0.2, "latency_seconds_sum", registry, view="home")
    assert_metric_no_diff(before, 0.2, "latency_seconds_sum", registry, view="home")
    # The snapshot, our own helper, takes values this close as equal.
    snapshot.assert_diff(0.2, "latency_seconds_sum", view="home")
    with pytest.raises(AssertionError):
        snapshot.assert_diff(0.2000001, "latency_seconds_sum", view="home")


# --- the registry argument ----------------------------------------------------------------


def test_every_reader_honours_its_registry(
    registry: CollectorRegistry, requests: Counter, global_probe: Counter
) -> None:
    requests.labels("GET", "home").inc()
    global_probe.labels("a").inc(5)
    probe = f"{GLOBAL_PROBE}_total"

    assert get_metric("requests_total", registry, method="GET", view="home") == 1.0
    assert get_metric("requests_total", method="GET", view="home") is None
    assert get_metric("requests_total", REGISTRY, method="GET", view="home") is None
    assert get_metric(probe, kind="a") == 5.0
    assert get_metric(probe, registry, kind="a") is None

    assert get_metrics_vector("requests_total") == []
    assert get_metrics_vector(probe) == [({"kind": "a"}, 5.0)]
    assert get_metrics_vector(probe, registry) == []

    frozen_custom = save_registry(registry)
    frozen_global = save_registry()
    assert get_metric_from_frozen_registry(probe, frozen_global, kind="a") == 5.0
    assert get_metric_from_frozen_registry(probe, frozen_custom, kind="a") is None
    assert get_metric_vector_from_frozen_registry("requests_total", frozen_global) == []


def test_every_assertion_honours_its_registry(
    registry: CollectorRegistry, requests: Counter, global_probe: Counter
) -> None:
    probe = f"{GLOBAL_PROBE}_total"
    custom_before = save_registry(registry)
    global_before = save_registry()
    requests.labels("GET", "home").inc()
    global_probe.labels("a").inc(5)

    assert_metric_equal(1, "requests_total", registry, method="GET", view="home")
    assert_metric_equal(5, probe, kind="a")
    assert_metric_not_equal(1, "requests_total", method="GET", view="home")
    assert_metric_not_equal(5, probe, registry, kind="a")
    with pytest.raises(AssertionError):
        assert_metric_equal(1, "requests_total", method="GET", view="home")
    with pytest.raises(AssertionError):
        assert_metric_equal(5, probe, registry=registry, kind="a")

    assert_metric_diff(custom_before, 1, "requests_total", registry, method="GET", view="home")
    assert_metric_diff(global_before, 5, probe, kind="a")
    # The wrong registry has no such series, and a missing series fails every diff.
    with pytest.raises(AssertionError, match="no such series now"):
        assert_metric_diff(custom_before, 0, "requests_total", method="GET", view="home")
    with pytest.raises(AssertionError, match="no such series now"):
        assert_metric_diff(global_before, 0, probe, registry, kind="a")
    assert_metric_no_diff(custom_before, 0, "requests_total", registry, method="GET", view="home")
    with pytest.raises(AssertionError, match="no such series now"):
        assert_metric_no_diff(custom_before, 0, "requests_total", method="GET", view="home")

    seen: list[tuple[float | None, float | None]] = []

    def record(old: float | None, new: float | None) -> bool:
        seen.append((old, new))
        return True

    assert_metric_compare(global_before, record, probe, kind="a")
    with pytest.raises(AssertionError, match="not called: there is no such series now"):
        assert_metric_compare(custom_before, record, probe, registry, kind="a")
    assert seen == [(None, 5.0)]


# --- frozen registries --------------------------------------------------------------------


def test_save_registry_does_not_follow_later_changes(
    registry: CollectorRegistry, requests: Counter
) -> None:
    requests.labels("GET", "home").inc()
    frozen = save_registry(registry)
    requests.labels("GET", "home").inc(10)
    requests.labels("POST", "login").inc()

    assert isinstance(frozen, list)
    assert all(isinstance(family, Metric) for family in frozen)
    assert get_metric_from_frozen_registry("requests_total", frozen, method="GET", view="home") == 1
    assert (
        get_metric_from_frozen_registry("requests_total", frozen, method="POST", view="login")
        is None
    )
    assert get_metric_vector_from_frozen_registry("requests_total", frozen) == [
        ({"method": "GET", "view": "home"}, 1.0)
    ]
    assert get_metric("requests_total", registry, method="GET", view="home") == 11


class _SameFamilyEveryTime:
    """A collector that hands out one mutable family, as hand-written collectors may."""

    def __init__(self) -> None:
        self.family = CounterMetricFamily("jobs", "Jobs.", labels=("queue",))
        self.family.add_metric(("default",), 1)

    def collect(self) -> Iterable[Metric]:
        return [self.family]


def test_save_registry_copies_what_collectors_hand_out(registry: CollectorRegistry) -> None:
    collector = _SameFamilyEveryTime()
    registry.register(collector)
    frozen = save_registry(registry)

    collector.family.samples[0].labels["queue"] = "renamed"
    collector.family.samples.append(collector.family.samples[0]._replace(value=7))

    assert get_metric_vector_from_frozen_registry("jobs_total", frozen) == [
        ({"queue": "default"}, 1.0)
    ]
    assert get_metrics_vector("jobs_total", registry) == [
        ({"queue": "renamed"}, 1.0),
        ({"queue": "renamed"}, 7.0),
    ]


def test_frozen_readers_accept_any_iterable_of_families(
    registry: CollectorRegistry, requests: Counter
) -> None:
    requests.labels("GET", "home").inc(3)
    as_list = list(registry.collect())
    assert (
        get_metric_from_frozen_registry("requests_total", as_list, method="GET", view="home") == 3
    )
    assert_metric_diff(as_list, 0, "requests_total", registry, method="GET", view="home")


# --- assert_metric_equal / assert_metric_not_equal ----------------------------------------


def test_assert_metric_equal_passes_on_the_exact_series(
    registry: CollectorRegistry, requests: Counter
) -> None:
    _two_requests(requests)
    assert_metric_equal(2, "requests_total", registry, method="GET", view="home")
    assert_metric_equal(1.0, "requests_total", registry=registry, method="POST", view="login")


def test_assert_metric_equal_failure_shows_every_series(
    registry: CollectorRegistry, requests: Counter
) -> None:
    _two_requests(requests)
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_equal(3, "requests_total", registry, method="GET", view="home")
    assert str(excinfo.value) == (
        'requests_total{method="GET",view="home"}: expected 3, got 2.0\n'
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 2.0\n'
        '    {method="POST",view="login"} 1.0'
    )


def test_assert_metric_equal_on_a_missing_series(
    registry: CollectorRegistry, requests: Counter
) -> None:
    _two_requests(requests)
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_equal(0, "requests_total", registry, method="GET")
    assert str(excinfo.value) == (
        'requests_total{method="GET"}: expected 0, got None (no such series)\n'
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 2.0\n'
        '    {method="POST",view="login"} 1.0'
    )


def test_assert_metric_equal_on_a_missing_metric(registry: CollectorRegistry) -> None:
    with pytest.raises(
        AssertionError,
        match=r"^missing_total: expected 1, got None \(no such series\)\n"
        r"All values of missing_total now:\n    \(no series\)$",
    ):
        assert_metric_equal(1, "missing_total", registry)


def test_assert_metric_not_equal(registry: CollectorRegistry, requests: Counter) -> None:
    _two_requests(requests)
    assert_metric_not_equal(3, "requests_total", registry, method="GET", view="home")
    assert_metric_not_equal(2, "requests_total", registry, method="POST", view="login")
    assert_metric_not_equal(2, "requests_total", registry, method="GET")
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_not_equal(1, "requests_total", registry, method="POST", view="login")
    assert str(excinfo.value) == (
        'requests_total{method="POST",view="login"}: expected anything but 1, got 1.0\n'
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 2.0\n'
        '    {method="POST",view="login"} 1.0'
    )


# --- diffs --------------------------------------------------------------------------------


def test_assert_metric_diff(registry: CollectorRegistry, requests: Counter) -> None:
    requests.labels("GET", "home").inc()
    before = save_registry(registry)
    _two_requests(requests)
    assert_metric_diff(before, 2, "requests_total", registry, method="GET", view="home")
    # A series that exists nowhere is not "no change": it fails, as in django-prometheus.
    with pytest.raises(AssertionError, match="no such series now"):
        assert_metric_diff(before, 0, "requests_total", registry, method="PUT", view="home")


def test_a_series_created_during_the_test_diffs_from_zero(
    registry: CollectorRegistry, requests: Counter
) -> None:
    before = save_registry(registry)
    _two_requests(requests)
    assert_metric_diff(before, 1, "requests_total", registry, method="POST", view="login")
    # Even the metric family did not exist before.
    gauge = Gauge("queue_length", "Queue length.", registry=registry)
    gauge.set(4)
    assert_metric_diff(before, 4, "queue_length", registry)


def test_a_decrease_is_a_negative_diff(registry: CollectorRegistry) -> None:
    gauge = Gauge("connections", "Open connections.", ("alias",), registry=registry)
    gauge.labels("default").set(5)
    before = save_registry(registry)
    gauge.labels("default").dec(2)
    assert_metric_diff(before, -2, "connections", registry, alias="default")


def test_assert_metric_diff_failure_shows_both_sides(
    registry: CollectorRegistry, requests: Counter
) -> None:
    requests.labels("GET", "home").inc()
    before = save_registry(registry)
    _two_requests(requests)
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_diff(before, 1, "requests_total", registry, method="GET", view="home")
    assert str(excinfo.value) == (
        'requests_total{method="GET",view="home"}: expected a change of 1, got 2.0 '
        "(before: 1.0, now: 3.0)\n"
        "All values of requests_total before:\n"
        '    {method="GET",view="home"} 1.0\n'
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 3.0\n'
        '    {method="POST",view="login"} 1.0'
    )


def test_assert_metric_diff_failure_on_a_new_series(
    registry: CollectorRegistry, requests: Counter
) -> None:
    before = save_registry(registry)
    requests.labels("GET", "home").inc()
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_diff(before, 2, "requests_total", registry, method="GET", view="home")
    assert str(excinfo.value) == (
        'requests_total{method="GET",view="home"}: expected a change of 2, got 1.0 '
        "(before: None (no such series), now: 1.0)\n"
        "All values of requests_total before:\n"
        "    (no series)\n"
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 1.0'
    )


def test_assert_metric_no_diff(registry: CollectorRegistry, requests: Counter) -> None:
    before = save_registry(registry)
    requests.labels("GET", "home").inc(2)
    assert_metric_no_diff(before, 0, "requests_total", registry, method="GET", view="home")
    assert_metric_no_diff(before, 1, "requests_total", registry, method="GET", view="home")
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_no_diff(before, 2, "requests_total", registry, method="GET", view="home")
    assert str(excinfo.value) == (
        'requests_total{method="GET",view="home"}: expected any change but 2, got 2.0 '
        "(before: None (no such series), now: 2.0)\n"
        "All values of requests_total before:\n"
        "    (no series)\n"
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 2.0'
    )


# --- assert_metric_compare ----------------------------------------------------------------


def test_assert_metric_compare_passes_old_and_new(
    registry: CollectorRegistry, requests: Counter
) -> None:
    requests.labels("GET", "home").inc()
    before = save_registry(registry)
    _two_requests(requests)
    seen: list[tuple[float | None, float | None]] = []

    def grew(old: float | None, new: float | None) -> bool:
        seen.append((old, new))
        return old is not None and new is not None and new > old

    assert_metric_compare(before, grew, "requests_total", registry, method="GET", view="home")
    assert seen == [(1.0, 3.0)]
    assert_metric_compare(
        before, lambda old, new: old is None and new == 1, "requests_total", registry,
        method="POST", view="login",
    )  # fmt: skip


def test_assert_metric_compare_failure(registry: CollectorRegistry, requests: Counter) -> None:
    requests.labels("GET", "home").inc()
    before = save_registry(registry)
    requests.labels("GET", "home").inc()

    def shrank(old: float | None, new: float | None) -> bool:
        return old is not None and new is not None and new < old

    with pytest.raises(AssertionError) as excinfo:
        assert_metric_compare(before, shrank, "requests_total", registry, method="GET", view="home")
    assert str(excinfo.value) == (
        'requests_total{method="GET",view="home"}: predicate shrank(old, new) returned False, '
        "not True "
        "(old: 1.0, new: 2.0)\n"
        "All values of requests_total before:\n"
        '    {method="GET",view="home"} 1.0\n'
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 2.0'
    )
    with pytest.raises(AssertionError, match=r"^missing: predicate <lambda>\(old, new\) not call"):
        assert_metric_compare(before, lambda old, new: True, "missing", registry)


# --- MetricsSnapshot ----------------------------------------------------------------------


def test_metrics_snapshot(registry: CollectorRegistry, requests: Counter) -> None:
    requests.labels("GET", "home").inc()
    snapshot = MetricsSnapshot(registry)
    _two_requests(requests)

    assert snapshot.registry is registry
    assert snapshot.before("requests_total", method="GET", view="home") == 1.0
    assert snapshot.now("requests_total", method="GET", view="home") == 3.0
    assert snapshot.diff("requests_total", method="GET", view="home") == 2.0
    assert snapshot.before("requests_total", method="POST", view="login") is None
    assert snapshot.diff("requests_total", method="POST", view="login") == 1.0
    assert snapshot.diff("missing_total") == 0.0
    snapshot.assert_diff(2, "requests_total", method="GET", view="home")
    snapshot.assert_no_change("requests_total", method="PUT", view="home")
    with pytest.raises(AssertionError, match=r"expected a change of 0\.0, got 1\.0"):
        snapshot.assert_no_change("requests_total", method="POST", view="login")
    with pytest.raises(AssertionError) as excinfo:
        snapshot.assert_diff(1, "requests_total", method="GET", view="home")
    assert str(excinfo.value).splitlines()[0] == (
        'requests_total{method="GET",view="home"}: expected a change of 1.0, got 2.0 '
        "(before: 1.0, now: 3.0)"
    )


def test_metrics_snapshot_takes_any_label_name(registry: CollectorRegistry) -> None:
    odd = Counter(
        "odd", "Labels named like parameters.", ("metric_name", "expected"), registry=registry
    )
    snapshot = MetricsSnapshot(registry)
    odd.labels("a", "b").inc()
    assert snapshot.diff("odd_total", metric_name="a", expected="b") == 1.0
    snapshot.assert_diff(1, "odd_total", metric_name="a", expected="b")


def test_metrics_snapshot_defaults_to_the_global_registry(global_probe: Counter) -> None:
    snapshot = MetricsSnapshot()
    global_probe.labels("b").inc()
    assert snapshot.registry is REGISTRY
    assert snapshot.diff(f"{GLOBAL_PROBE}_total", kind="b") == 1.0


def test_infinite_values_are_shown(registry: CollectorRegistry) -> None:
    Gauge("limit", "Limit.", registry=registry).set(math.inf)
    assert_metric_equal(math.inf, "limit", registry)
    with pytest.raises(AssertionError, match=r"^limit: expected 1, got inf\n"):
        assert_metric_equal(1, "limit", registry)


# --- pass and fail as in django-prometheus 2.5.0 ------------------------------------------
#
# One scene, every assertion: a series present on both sides, one created after the
# snapshot, one at 0 throughout, one removed after the snapshot, one that never existed,
# a misspelt metric name and a misspelt (partial) label set. ``failure`` is the first
# line of our message, or None where the call passes; which calls pass is 2.5.0's
# (tests/unit/test_testutils_upstream.py checks that against 2.5.0 itself).


@dataclass(frozen=True)
class Scene:
    registry: CollectorRegistry
    before: FrozenRegistry


class Case(NamedTuple):
    id: str
    call: Callable[[Scene], None]
    failure: str | None


def make_scene() -> Scene:
    registry = CollectorRegistry()
    requests = Counter("requests", "Requests.", ("method", "view"), registry=registry)
    requests.labels("GET", "home").inc()
    Gauge("idle", "Idle workers.", registry=registry)
    gone = Gauge("gone", "Removed after the snapshot.", ("alias",), registry=registry)
    gone.labels("old").set(5)
    before = save_registry(registry)
    requests.labels("GET", "home").inc(2)
    requests.labels("POST", "login").inc()
    gone.remove("old")
    return Scene(registry, before)


@pytest.fixture
def scene() -> Scene:
    return make_scene()


HOME = {"method": "GET", "view": "home"}
LOGIN = {"method": "POST", "view": "login"}
NEVER = {"method": "PUT", "view": "home"}
PARTIAL = {"method": "GET"}
NO_SERIES = "None (no such series)"


def always(old: float | None, new: float) -> bool:
    return True


def never(old: float | None, new: float) -> bool:
    return False


def grew(old: float | None, new: float) -> bool:
    return new > (old or 0)


def one(old: float | None, new: float) -> Any:
    return 1


CASES = [
    # assert_metric_equal: plain ==, a missing series is None.
    Case("equal-present", lambda s: assert_metric_equal(3, "requests_total", s.registry, **HOME),
         None),
    Case("equal-present-wrong",
         lambda s: assert_metric_equal(1, "requests_total", s.registry, **HOME),
         'requests_total{method="GET",view="home"}: expected 1, got 3.0'),
    Case("equal-present-none",
         lambda s: assert_metric_equal(None, "requests_total", s.registry, **HOME),
         f'requests_total{{method="GET",view="home"}}: expected {NO_SERIES}, got 3.0'),
    Case("equal-zero", lambda s: assert_metric_equal(0, "idle", s.registry), None),
    Case("equal-zero-none", lambda s: assert_metric_equal(None, "idle", s.registry),
         f"idle: expected {NO_SERIES}, got 0.0"),
    Case("equal-absent-none",
         lambda s: assert_metric_equal(None, "requests_total", s.registry, **NEVER), None),
    Case("equal-absent-zero",
         lambda s: assert_metric_equal(0, "requests_total", s.registry, **NEVER),
         f'requests_total{{method="PUT",view="home"}}: expected 0, got {NO_SERIES}'),
    Case("equal-misspelt-none",
         lambda s: assert_metric_equal(None, "requests", s.registry, **HOME), None),
    Case("equal-misspelt", lambda s: assert_metric_equal(3, "requests", s.registry, **HOME),
         f'requests{{method="GET",view="home"}}: expected 3, got {NO_SERIES}'),
    Case("equal-partial-labels",
         lambda s: assert_metric_equal(3, "requests_total", s.registry, **PARTIAL),
         f'requests_total{{method="GET"}}: expected 3, got {NO_SERIES}'),
    # assert_metric_not_equal: plain !=, so None against a missing series fails.
    Case("not-equal-present",
         lambda s: assert_metric_not_equal(1, "requests_total", s.registry, **HOME), None),
    Case("not-equal-present-same",
         lambda s: assert_metric_not_equal(3, "requests_total", s.registry, **HOME),
         'requests_total{method="GET",view="home"}: expected anything but 3, got 3.0'),
    Case("not-equal-present-none",
         lambda s: assert_metric_not_equal(None, "requests_total", s.registry, **HOME), None),
    Case("not-equal-zero", lambda s: assert_metric_not_equal(0, "idle", s.registry),
         "idle: expected anything but 0, got 0.0"),
    Case("not-equal-absent-zero",
         lambda s: assert_metric_not_equal(0, "requests_total", s.registry, **NEVER), None),
    Case("not-equal-absent-none",
         lambda s: assert_metric_not_equal(None, "requests_total", s.registry, **NEVER),
         f'requests_total{{method="PUT",view="home"}}: expected anything but {NO_SERIES}, '
         f"got {NO_SERIES}"),
    Case("not-equal-misspelt-zero",
         lambda s: assert_metric_not_equal(0, "requests", s.registry, **HOME), None),
    Case("not-equal-misspelt-none",
         lambda s: assert_metric_not_equal(None, "requests", s.registry, **HOME),
         f'requests{{method="GET",view="home"}}: expected anything but {NO_SERIES}, '
         f"got {NO_SERIES}"),
    # assert_metric_diff: missing now fails; missing before counts as 0.
    Case("diff-present",
         lambda s: assert_metric_diff(s.before, 2, "requests_total", s.registry, **HOME), None),
    Case("diff-present-wrong",
         lambda s: assert_metric_diff(s.before, 3, "requests_total", s.registry, **HOME),
         'requests_total{method="GET",view="home"}: expected a change of 3, got 2.0 '
         "(before: 1.0, now: 3.0)"),
    Case("diff-new", lambda s: assert_metric_diff(s.before, 1, "requests_total", s.registry,
                                                  **LOGIN), None),
    Case("diff-new-zero",
         lambda s: assert_metric_diff(s.before, 0, "requests_total", s.registry, **LOGIN),
         f'requests_total{{method="POST",view="login"}}: expected a change of 0, got 1.0 '
         f"(before: {NO_SERIES}, now: 1.0)"),
    Case("diff-zero", lambda s: assert_metric_diff(s.before, 0, "idle", s.registry), None),
    Case("diff-gone", lambda s: assert_metric_diff(s.before, -5, "gone", s.registry, alias="old"),
         'gone{alias="old"}: expected a change of -5, but there is no such series now '
         "(before: 5.0)"),
    Case("diff-absent",
         lambda s: assert_metric_diff(s.before, 0, "requests_total", s.registry, **NEVER),
         'requests_total{method="PUT",view="home"}: expected a change of 0, but there is no '
         f"such series now (before: {NO_SERIES})"),
    Case("diff-misspelt",
         lambda s: assert_metric_diff(s.before, 2, "requests", s.registry, **HOME),
         'requests{method="GET",view="home"}: expected a change of 2, but there is no such '
         f"series now (before: {NO_SERIES})"),
    Case("diff-misspelt-zero",
         lambda s: assert_metric_diff(s.before, 0, "requests", s.registry, **HOME),
         'requests{method="GET",view="home"}: expected a change of 0, but there is no such '
         f"series now (before: {NO_SERIES})"),
    # assert_metric_no_diff: the same, with the comparison reversed.
    Case("no-diff-present",
         lambda s: assert_metric_no_diff(s.before, 0, "requests_total", s.registry, **HOME),
         None),
    Case("no-diff-present-same",
         lambda s: assert_metric_no_diff(s.before, 2, "requests_total", s.registry, **HOME),
         'requests_total{method="GET",view="home"}: expected any change but 2, got 2.0 '
         "(before: 1.0, now: 3.0)"),
    Case("no-diff-new",
         lambda s: assert_metric_no_diff(s.before, 0, "requests_total", s.registry, **LOGIN),
         None),
    Case("no-diff-zero", lambda s: assert_metric_no_diff(s.before, 0, "idle", s.registry),
         "idle: expected any change but 0, got 0.0 (before: 0.0, now: 0.0)"),
    Case("no-diff-gone",
         lambda s: assert_metric_no_diff(s.before, 0, "gone", s.registry, alias="old"),
         'gone{alias="old"}: expected any change but 0, but there is no such series now '
         "(before: 5.0)"),
    Case("no-diff-absent",
         lambda s: assert_metric_no_diff(s.before, 1, "requests_total", s.registry, **NEVER),
         'requests_total{method="PUT",view="home"}: expected any change but 1, but there is no '
         f"such series now (before: {NO_SERIES})"),
    Case("no-diff-misspelt",
         lambda s: assert_metric_no_diff(s.before, 0, "requests", s.registry, **HOME),
         'requests{method="GET",view="home"}: expected any change but 0, but there is no such '
         f"series now (before: {NO_SERIES})"),
    # assert_metric_compare: missing now fails uncalled; only a result of True passes.
    Case("compare-present",
         lambda s: assert_metric_compare(s.before, grew, "requests_total", s.registry, **HOME),
         None),
    Case("compare-present-false",
         lambda s: assert_metric_compare(s.before, never, "requests_total", s.registry, **HOME),
         'requests_total{method="GET",view="home"}: predicate never(old, new) returned False, '
         "not True (old: 1.0, new: 3.0)"),
    Case("compare-present-truthy",
         lambda s: assert_metric_compare(s.before, one, "requests_total", s.registry, **HOME),
         'requests_total{method="GET",view="home"}: predicate one(old, new) returned 1, '
         "not True (old: 1.0, new: 3.0)"),
    Case("compare-new",
         lambda s: assert_metric_compare(
             s.before, lambda old, new: old is None and new == 1, "requests_total", s.registry,
             **LOGIN),
         None),
    Case("compare-zero", lambda s: assert_metric_compare(s.before, always, "idle", s.registry),
         None),
    Case("compare-gone",
         lambda s: assert_metric_compare(s.before, always, "gone", s.registry, alias="old"),
         'gone{alias="old"}: predicate always(old, new) not called: there is no such series '
         "now (old: 5.0)"),
    Case("compare-absent",
         lambda s: assert_metric_compare(s.before, always, "requests_total", s.registry,
                                         **NEVER),
         'requests_total{method="PUT",view="home"}: predicate always(old, new) not called: '
         f"there is no such series now (old: {NO_SERIES})"),
    Case("compare-misspelt",
         lambda s: assert_metric_compare(s.before, always, "requests", s.registry, **HOME),
         'requests{method="GET",view="home"}: predicate always(old, new) not called: there is '
         f"no such series now (old: {NO_SERIES})"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pass_and_fail_as_django_prometheus(scene: Scene, case: Case) -> None:
    if case.failure is None:
        case.call(scene)
        return
    with pytest.raises(AssertionError) as excinfo:
        case.call(scene)
    assert str(excinfo.value).splitlines()[0] == case.failure


def test_a_failure_lists_the_series_there_are(scene: Scene) -> None:
    with pytest.raises(AssertionError) as excinfo:
        assert_metric_diff(scene.before, 0, "requests_total", scene.registry, **PARTIAL)
    assert str(excinfo.value) == (
        'requests_total{method="GET"}: expected a change of 0, but there is no such series '
        f"now (before: {NO_SERIES})\n"
        "All values of requests_total before:\n"
        '    {method="GET",view="home"} 1.0\n'
        "All values of requests_total now:\n"
        '    {method="GET",view="home"} 3.0\n'
        '    {method="POST",view="login"} 1.0'
    )


@pytest.mark.parametrize("expected_diff", [None, "2", [2]])
def test_a_diff_that_is_not_a_number_raises_type_error(scene: Scene, expected_diff: Any) -> None:
    # As in 2.5.0, where formatting it with %f raises; no_diff must not pass on it.
    for check in (assert_metric_diff, assert_metric_no_diff):
        with pytest.raises(TypeError, match="expected_diff must be a number"):
            check(scene.before, expected_diff, "requests_total", scene.registry, **HOME)


def test_values_are_returned_as_the_collector_gives_them(registry: CollectorRegistry) -> None:
    collector = _SameFamilyEveryTime()
    registry.register(collector)
    big = 2**53 + 1
    collector.family.add_metric(("big",), big)
    value = get_metric("jobs_total", registry, queue="default")
    assert value == 1
    assert type(value) is int
    assert get_metrics_vector("jobs_total", registry) == [
        ({"queue": "default"}, 1),
        ({"queue": "big"}, big),
    ]
    # Exact comparisons: a float cannot hold 2**53 + 1, so it is not equal to it.
    assert_metric_equal(big, "jobs_total", registry, queue="big")
    assert_metric_not_equal(float(big), "jobs_total", registry, queue="big")


_UNDER_OPTIMIZE = """
from prometheus_client import CollectorRegistry, Counter
from django_prometheus.testutils import assert_metric_equal
registry = CollectorRegistry()
Counter("hits", "Hits.", registry=registry).inc()
try:
    assert_metric_equal(2, "hits_total", registry=registry)
except AssertionError as error:
    print("raised:", error)
else:
    print("passed")
"""


def test_assertions_fail_under_python_dash_o() -> None:
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "-O", "-c", _UNDER_OPTIMIZE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.startswith("raised: hits_total: expected 2, got 1.0")
