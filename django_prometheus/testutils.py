"""Assertions on the values a Prometheus registry exposes, for test suites.

Names are *sample* names as they appear on ``/metrics`` (so a counter is asked
for with its ``_total`` suffix and a histogram through ``_count``, ``_sum`` or
``_bucket``), and the labels given must be exactly the labels of the series::

    from django_prometheus.testutils import assert_metric_diff, save_registry

    def test_home_counts_a_get(client):
        before = save_registry()
        client.get("/")
        assert_metric_diff(
            before, 1, "django_http_requests_total_by_method_total", method="GET"
        )

The module-level functions pass and fail exactly where those of django-prometheus
2.5.0 do; only their failure messages differ (each one names the series and prints
every series of the metric, so that a misspelt name or label shows itself). Two
things differ on purpose: they raise ``AssertionError`` under ``python -O`` too (2.5.0
uses ``assert``), and, given a registry, they never collect the global one (2.5.0's
``assert_metric_equal`` and ``assert_metric_not_equal`` do, for their message).

- A series that does not exist reads as ``None`` from :func:`get_metric`, and
  values are compared with plain ``==`` and ``!=``: ``assert_metric_equal(None,
  name)`` passes for a missing series, and ``0.1 + 0.2`` does not equal ``0.3``.
- :func:`assert_metric_diff`, :func:`assert_metric_no_diff` and
  :func:`assert_metric_compare` fail whenever the series does not exist *now*
  (a misspelt name cannot pass as "no change"). A series missing from the frozen
  registry counts as ``0`` in the diffs, so a series created during the test shows
  its whole value as the change; the predicate of :func:`assert_metric_compare`
  gets ``None`` for it, and passes only by returning ``True`` itself.

:class:`MetricsSnapshot` (not in django-prometheus) is the lenient one: a missing
series counts as ``0`` on both sides, and float values this close are equal.

Every function reads the registry it is given (the global ``REGISTRY`` by default).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import SupportsFloat, SupportsIndex

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric

__all__ = [
    "FrozenRegistry",
    "MetricVector",
    "MetricsSnapshot",
    "assert_metric_compare",
    "assert_metric_diff",
    "assert_metric_equal",
    "assert_metric_no_diff",
    "assert_metric_not_equal",
    "format_labels",
    "format_vector",
    "get_metric",
    "get_metric_from_frozen_registry",
    "get_metric_vector_from_frozen_registry",
    "get_metrics_vector",
    "save_registry",
]

FrozenRegistry = list[Metric]
"""What :func:`save_registry` returns: private copies of the collected families."""

MetricVector = list[tuple[dict[str, str], float]]
"""Every series of one sample name: ``(labels, value)`` pairs in collection order."""

# MetricsSnapshot only: histogram sums are floats, and ``0.3 - 0.1 != 0.2``.
_REL_TOL = 1e-9
_ABS_TOL = 1e-12


# --- formatting ---------------------------------------------------------------------------


def format_labels(labels_dict: Mapping[str, str]) -> str:
    """The labels in the order given, unescaped: ``{method="GET",view="x"}``; ``{}`` if none."""
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels_dict.items()) + "}"


def format_vector(vector: Iterable[tuple[Mapping[str, str], float]]) -> str:
    """One line ``{labels} = value`` per series, in the order given; ``""`` if empty."""
    return "\n".join(f"{format_labels(labels)} = {value}" for labels, value in vector)


# --- reading ------------------------------------------------------------------------------


def _samples(
    metric_name: str, families: Iterable[Metric]
) -> Iterator[tuple[dict[str, str], float]]:
    """``(labels, value)`` of every sample named ``metric_name``, lazily, in order."""
    for family in families:
        for sample in family.samples:
            # By position, so a hand-made plain tuple reads like a Sample.
            name, labels, value = sample[0], sample[1], sample[2]
            if name == metric_name:
                yield labels, value


def _first(metric_name: str, families: Iterable[Metric], labels: Mapping[str, str]) -> float | None:
    # Stops at the first match: the rest of a lazy ``collect()`` is not run.
    for sample_labels, value in _samples(metric_name, families):
        if sample_labels == labels:
            return value
    return None


def save_registry(registry: CollectorRegistry = REGISTRY) -> FrozenRegistry:
    """Collect ``registry`` now and keep private copies, unaffected by later changes."""
    return copy.deepcopy(list(registry.collect()))


def get_metric_vector_from_frozen_registry(
    metric_name: str, frozen_registry: Iterable[Metric]
) -> MetricVector:
    """Like :func:`get_metrics_vector`, read from a :func:`save_registry` snapshot."""
    # Copies of the label dicts, so that changing one cannot change the snapshot.
    return [(dict(labels), value) for labels, value in _samples(metric_name, frozen_registry)]


def get_metrics_vector(metric_name: str, registry: CollectorRegistry = REGISTRY) -> MetricVector:
    """Every series of ``metric_name`` in ``registry`` now, as ``(labels, value)`` pairs."""
    return get_metric_vector_from_frozen_registry(metric_name, registry.collect())


def get_metric_from_frozen_registry(
    metric_name: str, frozen_registry: Iterable[Metric], **labels: str
) -> float | None:
    """Like :func:`get_metric`, read from a :func:`save_registry` snapshot."""
    return _first(metric_name, frozen_registry, labels)


def get_metric(
    metric_name: str, registry: CollectorRegistry = REGISTRY, **labels: str
) -> float | None:
    """The value of the first series with exactly ``labels``, or ``None`` if there is none."""
    return _first(metric_name, registry.collect(), labels)


# --- failure messages ---------------------------------------------------------------------


def _escape(value: object) -> str:
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _exposition(labels: Mapping[str, str]) -> str:
    """Labels as ``/metrics`` writes them (sorted, escaped); ``""`` if none."""
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(labels[key])}"' for key in sorted(labels)) + "}"


def _show(value: object) -> str:
    return "None (no such series)" if value is None else repr(value)


def _series(metric_name: str, labels: Mapping[str, str]) -> str:
    return metric_name + _exposition(labels)


def _listing(title: str, vector: MetricVector) -> str:
    lines = sorted(f"    {_exposition(labels) or '{}'} {value!r}" for labels, value in vector)
    return "\n".join([title, *(lines or ["    (no series)"])])


def _values_now(metric_name: str, registry: CollectorRegistry) -> str:
    return _listing(f"All values of {metric_name} now:", get_metrics_vector(metric_name, registry))


def _values_both(
    metric_name: str, frozen_registry: Iterable[Metric], registry: CollectorRegistry
) -> str:
    before = get_metric_vector_from_frozen_registry(metric_name, frozen_registry)
    return (
        _listing(f"All values of {metric_name} before:", before)
        + "\n"
        + _values_now(metric_name, registry)
    )


# --- the established assertions -----------------------------------------------------------


def assert_metric_equal(
    expected_value: float | None,
    metric_name: str,
    registry: CollectorRegistry = REGISTRY,
    **labels: str,
) -> None:
    """Fail unless ``expected_value == get_metric(metric_name, registry, **labels)``.

    A missing series is ``None``, so ``assert_metric_equal(None, ...)`` asserts absence.
    """
    value = get_metric(metric_name, registry, **labels)
    if expected_value == value:
        return
    raise AssertionError(
        f"{_series(metric_name, labels)}: expected {_show(expected_value)}, got {_show(value)}\n"
        + _values_now(metric_name, registry)
    )


def assert_metric_not_equal(
    expected_value: float | None,
    metric_name: str,
    registry: CollectorRegistry = REGISTRY,
    **labels: str,
) -> None:
    """Fail unless ``expected_value != get_metric(metric_name, registry, **labels)``.

    A missing series is ``None``: it passes against a number, and fails against ``None``.
    """
    value = get_metric(metric_name, registry, **labels)
    if expected_value != value:
        return
    raise AssertionError(
        f"{_series(metric_name, labels)}: expected anything but {_show(expected_value)}, "
        f"got {_show(value)}\n" + _values_now(metric_name, registry)
    )


def _require_number(expected_diff: object) -> None:
    # django-prometheus 2.5.0 formats the expected diff with ``%f`` before comparing,
    # so anything but a real number raises there; assert_metric_no_diff(frozen, None, …)
    # must not pass here either.
    if not isinstance(expected_diff, (SupportsFloat, SupportsIndex)):
        raise TypeError(f"expected_diff must be a number, got {expected_diff!r}")


def _check_diff(
    frozen_registry: Iterable[Metric],
    expected_diff: float,
    metric_name: str,
    registry: CollectorRegistry,
    labels: Mapping[str, str],
    *,
    equal: bool,
) -> None:
    # A generator given as the frozen registry is read once, here.
    frozen = frozen_registry if isinstance(frozen_registry, (list, tuple)) else [*frozen_registry]
    before = get_metric_from_frozen_registry(metric_name, frozen, **labels)
    now = get_metric(metric_name, registry, **labels)
    wanted = "a change of " if equal else "any change but "
    if now is None:
        raise AssertionError(
            f"{_series(metric_name, labels)}: expected {wanted}{expected_diff!r}, but there is "
            f"no such series now (before: {_show(before)})\n"
            + _values_both(metric_name, frozen, registry)
        )
    diff = now - (before or 0.0)
    _require_number(expected_diff)
    if (expected_diff == diff) is equal:
        return
    raise AssertionError(
        f"{_series(metric_name, labels)}: expected {wanted}{expected_diff!r}, got {diff!r} "
        f"(before: {_show(before)}, now: {_show(now)})\n"
        + _values_both(metric_name, frozen, registry)
    )


def assert_metric_diff(
    frozen_registry: Iterable[Metric],
    expected_diff: float,
    metric_name: str,
    registry: CollectorRegistry = REGISTRY,
    **labels: str,
) -> None:
    """Fail unless the series exists and moved by exactly ``expected_diff``.

    The move is measured from ``frozen_registry`` (see :func:`save_registry`), where a
    missing series counts as ``0``.
    """
    _check_diff(frozen_registry, expected_diff, metric_name, registry, labels, equal=True)


def assert_metric_no_diff(
    frozen_registry: Iterable[Metric],
    expected_diff: float,
    metric_name: str,
    registry: CollectorRegistry = REGISTRY,
    **labels: str,
) -> None:
    """Fail unless the series exists and did *not* move by exactly ``expected_diff``.

    The counterpart of :func:`assert_metric_diff`, as in the established package:
    ``assert_metric_no_diff(frozen, 0, name)`` asserts that the series did change.
    """
    _check_diff(frozen_registry, expected_diff, metric_name, registry, labels, equal=False)


def assert_metric_compare(
    frozen_registry: Iterable[Metric],
    predicate: Callable[[float | None, float], bool],
    metric_name: str,
    registry: CollectorRegistry = REGISTRY,
    **labels: str,
) -> None:
    """Fail unless the series exists and ``predicate(old, new)`` returns ``True`` itself.

    ``old`` is ``None`` for a series missing from ``frozen_registry``. When the series
    does not exist now, the predicate is not called. A truthy result other than ``True``
    (``1``, a non-empty list) fails.
    """
    frozen = frozen_registry if isinstance(frozen_registry, (list, tuple)) else [*frozen_registry]
    before = get_metric_from_frozen_registry(metric_name, frozen, **labels)
    now = get_metric(metric_name, registry, **labels)
    name = getattr(predicate, "__name__", repr(predicate))
    if now is None:
        raise AssertionError(
            f"{_series(metric_name, labels)}: predicate {name}(old, new) not called: there is "
            f"no such series now (old: {_show(before)})\n"
            + _values_both(metric_name, frozen, registry)
        )
    result = predicate(before, now)
    if result is True:
        return
    raise AssertionError(
        f"{_series(metric_name, labels)}: predicate {name}(old, new) returned {result!r}, "
        f"not True (old: {_show(before)}, new: {_show(now)})\n"
        + _values_both(metric_name, frozen, registry)
    )


# --- MetricsSnapshot ----------------------------------------------------------------------


def _close(left: float, right: float) -> bool:
    return left == right or math.isclose(left, right, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


class MetricsSnapshot:
    """One registry frozen at a moment, and how its series have moved since.

    Unlike the functions above, a snapshot counts a missing series as ``0`` on both
    sides and takes float values this close (``0.1 + 0.2`` and ``0.3``) as equal.
    ``diff`` and ``assert_diff`` take their own arguments positionally, so any label
    name (even ``metric_name``) can be given as a keyword.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.frozen: FrozenRegistry = save_registry(registry)

    def before(self, metric_name: str, /, **labels: str) -> float | None:
        """The value when the snapshot was taken, ``None`` if the series did not exist."""
        return _first(metric_name, self.frozen, labels)

    def now(self, metric_name: str, /, **labels: str) -> float | None:
        """The value now, ``None`` if the series does not exist."""
        return _first(metric_name, self.registry.collect(), labels)

    def diff(self, metric_name: str, /, **labels: str) -> float:
        """How far the series moved since the snapshot; a missing series counts as ``0``."""
        return (self.now(metric_name, **labels) or 0.0) - (
            self.before(metric_name, **labels) or 0.0
        )

    def assert_diff(self, expected: float, metric_name: str, /, **labels: str) -> None:
        """Fail, showing every series of the metric, unless it moved by ``expected``."""
        before = self.before(metric_name, **labels)
        now = self.now(metric_name, **labels)
        diff = (now or 0.0) - (before or 0.0)
        if _close(diff, expected):
            return
        raise AssertionError(
            f"{_series(metric_name, labels)}: expected a change of {float(expected)!r}, "
            f"got {diff!r} (before: {_show(before)}, now: {_show(now)})\n"
            + _values_both(metric_name, self.frozen, self.registry)
        )

    def assert_no_change(self, metric_name: str, /, **labels: str) -> None:
        """Fail unless the series has the value it had (missing and ``0`` are alike)."""
        self.assert_diff(0, metric_name, **labels)
