"""The cheapest way to move a bound prometheus_client child, decided once per child.

``Counter.inc`` and ``Histogram.observe`` re-check on every call what cannot
change for a bound child (that it is observable, that the amount is not
negative) and ``observe`` walks the buckets one by one. On a hot path that runs
a dozen times per request this is most of the cost, so for children whose
internals look as expected we bind the value objects' own ``inc`` once (they
hold the lock, in-process or multiprocess alike) and find the bucket with
``bisect``. Anything unexpected falls back to the public methods, so a future
prometheus_client changes speed, never results.

Only for amounts we produce ourselves: non-negative counts, non-negative finite
sizes and durations.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from typing import Final, TypeAlias

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "RECORD_NOTHING",
    "Record",
    "counter_child",
    "counter_inc",
    "histogram_child",
    "histogram_observe",
]

Record: TypeAlias = Callable[[float], None]
"""Adds the amount to a counter, or observes it in a histogram."""


def counter_inc(child: Counter | Gauge) -> Record:
    """``child.inc`` without its per-call checks (``child`` must have no open labels)."""
    inc = getattr(getattr(child, "_value", None), "inc", None)
    return inc if callable(inc) else child.inc


def histogram_observe(child: Histogram) -> Record:
    """``child.observe`` finding the bucket by bisection (``child`` must have no open labels)."""
    try:
        bounds = tuple(float(bound) for bound in child._upper_bounds)
        buckets = tuple(bucket.inc for bucket in child._buckets)
        add_to_sum = child._sum.inc
    except (AttributeError, TypeError):
        return child.observe
    if len(bounds) != len(buckets) or not bounds or bounds[-1] != math.inf:
        return child.observe

    def observe(amount: float) -> None:
        add_to_sum(amount)
        # The first bucket whose upper bound is >= amount, as Histogram.observe picks it.
        buckets[bisect_left(bounds, amount)](1)

    return observe


def _record_nothing(amount: float) -> None:
    """What a disabled family records (PROMETHEUS_DISABLED_METRICS)."""


RECORD_NOTHING: Final[Record] = _record_nothing


def counter_child(family: Counter | Gauge | None, *labels: str) -> Record:
    """:func:`counter_inc` of ``family``'s child for ``labels``; nothing when it is disabled."""
    if family is None:
        return RECORD_NOTHING
    return counter_inc(family.labels(*labels) if labels else family)


def histogram_child(family: Histogram | None, *labels: str) -> Record:
    """:func:`histogram_observe` of ``family``'s child; nothing when it is disabled."""
    if family is None:
        return RECORD_NOTHING
    return histogram_observe(family.labels(*labels) if labels else family)
