"""Differential: every function of our testutils against django-prometheus 2.5.0's.

Random registries (counters, gauges, histograms and a hand-written collector whose
values may be ints, with labelled and unlabelled families, series that exist at ``0``,
series created after the snapshot) are read through both modules with present, absent
and misspelt names and labels. Each call must pass or fail (and with which exception
class) alike, and each value returned must be the same, type included.

The 2.5.0 file comes from :mod:`tests.upstream`. Without network and without a cached
copy the tests are skipped with the reason, or fail under ``REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from django_prometheus import testutils as ours
from tests import services, upstream
from tests.unit import test_testutils as table

# Only in CI's Django 5.2 leg: prometheus_client registries, the same on every Django line.
pytestmark = pytest.mark.django_independent

FAMILY_NAMES = ("jobs", "queue_depth", "latency_seconds")
LABEL_NAMES = ("method", "view", "code")
LABEL_VALUES = ("GET", "POST", "", 'say "hi"', "a\\b", "é")
# Values that make float trouble: 0.1 + 0.2, 2**53 + 1 (an int a float cannot hold), tiny.
AMOUNTS = (0, 1, 2, 0.1, 0.2, 0.5, 2.5, 1e-12, 2**53 + 1)
GAUGE_VALUES = (*AMOUNTS, -1, -0.3, math.inf, -math.inf, math.nan)
HAND_VALUES = (0, 1, 2**53 + 1, 0.5, -1, math.nan)
SUFFIXES = ("", "_total", "_created", "_count", "_sum", "_bucket")
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def upstream_testutils() -> ModuleType:
    try:
        return upstream.load_testutils()
    except upstream.UpstreamUnavailableError as exc:
        reason = f"django-prometheus {upstream.VERSION} testutils.py unavailable: {exc}"
        if services.required():
            pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
        pytest.skip(f"UPSTREAM MISSING: {reason} (REQUIRE_SERVICES=1 makes this a failure)")


def test_the_upstream_file_is_2_5_0_and_imports_only_prometheus_client(
    upstream_testutils: ModuleType,
) -> None:
    source = upstream.testutils_path().read_text()
    imports = sorted(line for line in source.splitlines() if line.startswith(("import ", "from ")))
    assert imports == ["from prometheus_client import REGISTRY", "import copy"]
    assert upstream_testutils.__name__ == "upstream_testutils"
    for name in ours.__all__:
        if name not in {"FrozenRegistry", "MetricVector", "MetricsSnapshot"}:
            assert callable(getattr(upstream_testutils, name)), name


# --- a registry both modules read ---------------------------------------------------------


class _Hand:
    """A hand-written collector: values as given (ints stay ints), one family."""

    def __init__(self, name: str, labelnames: tuple[str, ...], gauge: bool) -> None:
        self.name = name
        self.labelnames = labelnames
        self.gauge = gauge
        self.values: dict[tuple[str, ...], float] = {}

    def collect(self) -> Iterable[Metric]:
        family: CounterMetricFamily | GaugeMetricFamily
        if self.gauge:
            family = GaugeMetricFamily(self.name, "Hand-made.", labels=self.labelnames)
        else:
            family = CounterMetricFamily(self.name, "Hand-made.", labels=self.labelnames)
        for values, value in self.values.items():
            family.add_metric(values, value)
        return [family]


@dataclass
class _Family:
    kind: str
    name: str
    labelnames: tuple[str, ...]
    metric: Counter | Gauge | Histogram | _Hand


@dataclass
class World:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    families: list[_Family] = field(default_factory=list)

    def add(self, data: st.DataObject) -> None:
        name = FAMILY_NAMES[len(self.families)]
        kind = data.draw(st.sampled_from(("counter", "gauge", "histogram", "hand")))
        labelnames = tuple(
            data.draw(st.lists(st.sampled_from(LABEL_NAMES), unique=True, max_size=2))
        )
        metric: Counter | Gauge | Histogram | _Hand
        if kind == "counter":
            metric = Counter(name, "C.", labelnames, registry=self.registry)
        elif kind == "gauge":
            metric = Gauge(name, "G.", labelnames, registry=self.registry)
        elif kind == "histogram":
            metric = Histogram(name, "H.", labelnames, buckets=(0.2, 1.0), registry=self.registry)
        else:
            metric = _Hand(name, labelnames, gauge=data.draw(st.booleans()))
            self.registry.register(metric)
        self.families.append(_Family(kind, name, labelnames, metric))

    def step(self, data: st.DataObject) -> None:
        if not self.families:
            return
        family = data.draw(st.sampled_from(self.families))
        values = tuple(data.draw(st.sampled_from(LABEL_VALUES)) for _ in family.labelnames)
        metric = family.metric
        if isinstance(metric, _Hand):
            metric.values[values] = data.draw(st.sampled_from(HAND_VALUES))
            return
        child = metric.labels(*values) if family.labelnames else metric
        action = data.draw(st.sampled_from(("touch", "change", "change")))
        if action == "touch":  # the series exists from now on, at 0
            return
        if isinstance(child, Counter):
            child.inc(data.draw(st.sampled_from(AMOUNTS)))
        elif isinstance(child, Gauge):
            change = data.draw(st.sampled_from(("set", "inc", "dec")))
            value = data.draw(st.sampled_from(GAUGE_VALUES))
            getattr(child, change)(value)
        elif isinstance(child, Histogram):
            child.observe(data.draw(st.sampled_from((*AMOUNTS, -1, 0.3, 7))))

    def sample_names(self) -> list[str]:
        return [family.name + suffix for family in self.families for suffix in SUFFIXES]


def _names(world: World) -> st.SearchStrategy[str]:
    """Names of samples there are, more often than real and misspelt names of none."""
    real = world.sample_names()
    present = [name for name in real if ours.get_metrics_vector(name, world.registry)]
    misspelt = [name[:-1] for name in real] + [name.upper() for name in real[:2]]
    anything = st.sampled_from([*real, *misspelt, "nothing_total"])
    return st.one_of(st.sampled_from(present), anything) if present else anything


def _label_sets(world: World, name: str, frozen: Sequence[Metric]) -> st.SearchStrategy[Any]:
    seen = [labels for labels, _ in ours.get_metrics_vector(name, world.registry)]
    seen += [labels for labels, _ in ours.get_metric_vector_from_frozen_registry(name, frozen)]
    random = st.dictionaries(
        st.sampled_from((*LABEL_NAMES, "le")), st.sampled_from((*LABEL_VALUES, "+Inf", "1.0"))
    )
    if not seen:
        return random

    def altered(labels: dict[str, str], how: str, key: str, value: str) -> dict[str, str]:
        changed = dict(reversed(labels.items()))  # another order: the same labels
        if how == "drop" and changed:
            changed.pop(next(iter(changed)))
        elif how == "add":
            changed[key] = value
        elif how == "change" and changed:
            changed[next(iter(changed))] = value
        return changed

    variants = st.builds(
        altered,
        st.sampled_from(seen),
        st.sampled_from(("same", "drop", "add", "change")),
        st.sampled_from(LABEL_NAMES),
        st.sampled_from(LABEL_VALUES),
    )
    return st.one_of(st.sampled_from(seen), st.sampled_from(seen), variants, random)


# --- comparing the two modules ------------------------------------------------------------


def _outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    """``("ok", repr(result))`` or ``("raises", exception class)``: repr keeps int/float/nan."""
    try:
        result = function(*args, **kwargs)
    except Exception as exc:
        return ("raises", type(exc).__name__)
    return ("ok", repr(result))


def _same(upstream_module: ModuleType, function: str, *args: Any, **labels: Any) -> tuple[str, str]:
    mine = _outcome(getattr(ours, function), *args, **labels)
    theirs = _outcome(getattr(upstream_module, function), *args, **labels)
    assert mine == theirs, f"{function}{args} {labels}: ours {mine}, 2.5.0 {theirs}"
    return mine


def _predicates() -> list[tuple[str, Callable[[Any, Any], Any]]]:
    return [
        ("always_true", lambda old, new: True),
        ("always_false", lambda old, new: False),
        ("one", lambda old, new: 1),
        ("truthy_string", lambda old, new: "yes"),
        ("grew", lambda old, new: new > (old or 0)),
        ("was_missing", lambda old, new: old is None),
        ("unchanged", lambda old, new: old == new),
        ("compares_none", lambda old, new: old < new),  # TypeError when old is None
    ]


@EXAMPLES
@given(data=st.data())
def test_same_outcomes_as_upstream(upstream_testutils: ModuleType, data: st.DataObject) -> None:
    up = upstream_testutils
    world = World()
    for _ in range(data.draw(st.integers(1, 2))):
        world.add(data)
    for _ in range(data.draw(st.integers(0, 6))):
        world.step(data)

    frozen = ours.save_registry(world.registry)
    assert repr(frozen) == repr(up.save_registry(world.registry))
    assert type(frozen) is type(up.save_registry(world.registry))

    if data.draw(st.booleans()):  # a family created after the snapshot
        world.add(data)
    for _ in range(data.draw(st.integers(0, 6))):
        world.step(data)

    registry = world.registry
    for name in data.draw(st.lists(_names(world), min_size=1, max_size=4)):
        _same(up, "get_metrics_vector", name, registry)
        _same(up, "get_metric_vector_from_frozen_registry", name, frozen)
        vector = ours.get_metrics_vector(name, registry)
        assert ours.format_vector(vector) == up.format_vector(vector)

        labels = data.draw(_label_sets(world, name, frozen))
        _same(up, "get_metric", name, registry, **labels)
        _same(up, "get_metric_from_frozen_registry", name, frozen, **labels)
        assert ours.format_labels(labels) == up.format_labels(labels)

        now = ours.get_metric(name, registry, **labels)
        before = ours.get_metric_from_frozen_registry(name, frozen, **labels)
        values: list[Any] = [None, now, before, 0, 1, 0.3, 2**53 + 1]
        if now is not None:
            values.append(now + 0.1)
        for expected in data.draw(st.lists(st.sampled_from(values), min_size=1, max_size=3)):
            _same(up, "assert_metric_equal", expected, name, registry, **labels)
            _same(up, "assert_metric_not_equal", expected, name, registry=registry, **labels)

        diffs: list[Any] = [0, 1, 0.2, -1, None, "1"]
        if now is not None:
            diffs += [now - (before or 0.0), now, now - (before or 0.0) + 1e-12]
        for expected in data.draw(st.lists(st.sampled_from(diffs), min_size=1, max_size=3)):
            _same(up, "assert_metric_diff", frozen, expected, name, registry, **labels)
            _same(up, "assert_metric_no_diff", frozen, expected, name, registry, **labels)

        for label, predicate in _predicates():
            _same_comparison(up, frozen, label, predicate, name, registry, labels)


def _same_comparison(
    up: ModuleType,
    frozen: Sequence[Metric],
    label: str,
    predicate: Callable[[Any, Any], Any],
    name: str,
    registry: CollectorRegistry,
    labels: dict[str, str],
) -> None:
    calls: dict[str, list[tuple[object, object]]] = {"ours": [], "2.5.0": []}

    def recording(side: str) -> Callable[[Any, Any], Any]:
        def check(old: Any, new: Any) -> Any:
            calls[side].append((old, new))
            return predicate(old, new)

        check.__name__ = label
        return check

    mine = _outcome(ours.assert_metric_compare, frozen, recording("ours"), name, registry, **labels)
    theirs = _outcome(
        up.assert_metric_compare, frozen, recording("2.5.0"), name, registry, **labels
    )
    assert mine == theirs, f"assert_metric_compare {label} {name} {labels}: {mine} != {theirs}"
    assert repr(calls["ours"]) == repr(calls["2.5.0"])


_text = st.text(max_size=8)


@EXAMPLES
@given(
    labels=st.dictionaries(_text, _text, max_size=4),
    vector=st.lists(
        st.tuples(
            st.dictionaries(_text, _text, max_size=3),
            st.one_of(st.integers(), st.floats(), st.booleans()),
        ),
        max_size=4,
    ),
)
def test_same_formatting_as_upstream(
    upstream_testutils: ModuleType, labels: dict[str, str], vector: ours.MetricVector
) -> None:
    assert ours.format_labels(labels) == upstream_testutils.format_labels(labels)
    assert ours.format_vector(vector) == upstream_testutils.format_vector(vector)


def test_same_outcomes_through_the_default_registry(upstream_testutils: ModuleType) -> None:
    up = upstream_testutils
    probe = Counter("django_prometheus_differential_probe", "Probe.", ("kind",))
    try:
        frozen = ours.save_registry()
        probe.labels("a").inc(3)
        name = "django_prometheus_differential_probe_total"
        for labels in ({"kind": "a"}, {"kind": "b"}, {}):
            _same(up, "get_metric", name, **labels)
            for expected in (None, 3, 3.0, 0):
                _same(up, "assert_metric_equal", expected, name, **labels)
                _same(up, "assert_metric_not_equal", expected, name, **labels)
                _same(up, "assert_metric_diff", frozen, expected or 0, name, **labels)
                _same(up, "assert_metric_no_diff", frozen, expected or 0, name, **labels)
        _same(up, "get_metrics_vector", name)
    finally:
        REGISTRY.unregister(probe)


ASSERTIONS = (
    "assert_metric_equal",
    "assert_metric_not_equal",
    "assert_metric_diff",
    "assert_metric_no_diff",
    "assert_metric_compare",
)


@pytest.mark.parametrize("case", table.CASES, ids=[case.id for case in table.CASES])
def test_the_table_of_test_testutils_is_upstream_s(
    upstream_testutils: ModuleType, case: table.Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case of the pass/fail table, run through 2.5.0's functions instead of ours."""
    for name in ASSERTIONS:
        monkeypatch.setattr(table, name, getattr(upstream_testutils, name))
    scene = table.make_scene()
    if case.failure is None:
        case.call(scene)
    else:
        with pytest.raises(AssertionError):
            case.call(scene)
