"""The cheapest way to move a bound prometheus_client child, decided once per child.

``Counter.inc`` and ``Histogram.observe`` re-check on every call what cannot
change for a bound child (that it is observable, that the amount is not
negative) and ``observe`` walks the buckets one by one. On a hot path that runs
a dozen times per request this is most of the cost, so for children whose
internals look as expected we bind the value objects' own ``inc`` once (they
hold the lock, in-process or multiprocess alike) and find the bucket with
``bisect``. Anything unexpected falls back to the public methods, so a future
prometheus_client changes speed, never results.

:func:`joint_record` goes one step further for series that always move together
(a get's count, its outcome, its operation count and duration): their in-process
values are made to share one lock, so one acquisition moves them all. They still
take that lock in their own ``inc``/``get``, so every other caller stays correct.

Only for amounts we produce ourselves: non-negative counts, non-negative finite
sizes and durations.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from threading import Lock
from typing import Final, TypeAlias

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.values import MutexValue

__all__ = [
    "RECORD_NOTHING",
    "JointRecord",
    "Record",
    "counter_child",
    "counter_inc",
    "histogram_child",
    "histogram_observe",
    "joint_record",
    "locked_add",
]

Record: TypeAlias = Callable[[float], None]
"""Adds the amount to a counter, or observes it in a histogram."""
JointRecord: TypeAlias = Callable[[float | None], None]
"""Moves several values at once; None: counts without observing."""


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


def locked_add(family: Counter | Gauge | None, lock: Lock, *labels: str) -> Record:
    """:func:`counter_child`, but the child's in-process value takes ``lock``.

    For a sink whose other series already share ``lock`` (see :func:`joint_record`):
    an event then touches one lock object, not one per series, and the add skips
    ``inc``'s ``with`` block. Falls back to :func:`counter_child` for anything else
    (multiprocess values keep their own locking).
    """
    if family is None:
        return RECORD_NOTHING
    child = family.labels(*labels) if labels else family
    value = getattr(child, "_value", None)
    if type(value) is not MutexValue:
        return counter_inc(child)
    _share_lock(value, lock)
    acquire, release = lock.acquire, lock.release

    def add(amount: float) -> None:
        acquire()
        try:
            value._value += amount
        finally:
            release()

    return add


def _share_lock(value: MutexValue, lock: Lock) -> None:
    """Make ``value`` take ``lock`` from now on.

    Holding its old lock while switching means no ``inc`` is half done when the
    switch happens; our sinks bind a child on its first use, before anyone else
    moves it.
    """
    old: Lock = value._lock
    if old is lock:
        return
    with old:
        value._lock = lock


def _bounds_and_buckets(child: Histogram) -> tuple[tuple[float, ...], tuple[object, ...]] | None:
    try:
        bounds = tuple(float(bound) for bound in child._upper_bounds)
        buckets = tuple(child._buckets)
    except (AttributeError, TypeError):
        return None
    if len(bounds) != len(buckets) or not bounds or bounds[-1] != math.inf:
        return None
    return bounds, buckets


def joint_record(
    counters: Sequence[Counter | Gauge],
    histogram: Histogram | None = None,
    *,
    lock_of: Counter | Gauge | None = None,
    lock: Lock | None = None,
) -> JointRecord:
    """Add 1 to every child of ``counters`` and observe the amount in ``histogram``
    (unless the amount is None), at once.

    Every value takes one lock: ``lock``, or else the lock of ``lock_of``'s value.
    Recorders that share a value must name the same one. Children must have no open
    labels.
    """
    incs = [counter_inc(child) for child in counters]
    observe = None if histogram is None else histogram_observe(histogram)

    def one_by_one(amount: float | None) -> None:
        for inc in incs:
            inc(1)
        if observe is not None and amount is not None:
            observe(amount)

    counted = tuple(getattr(child, "_value", None) for child in counters)
    found = None if histogram is None else _bounds_and_buckets(histogram)
    total = None if histogram is None else getattr(histogram, "_sum", None)
    observed = () if found is None else (total, *found[1])
    if (
        not (counted or observed)
        or (histogram is not None and found is None)
        or any(type(value) is not MutexValue for value in (*counted, *observed))
    ):
        return one_by_one
    if lock is None:
        lock = getattr(getattr(lock_of, "_value", None), "_lock", None)
        if lock is None:
            return one_by_one
    for value in (*counted, *observed):
        _share_lock(value, lock)  # type: ignore[arg-type]
    values: tuple[MutexValue, ...] = tuple(value for value in counted if value is not None)
    buckets: tuple[MutexValue, ...] = () if found is None else found[1]  # type: ignore[assignment]
    bounds = () if found is None else found[0]
    return _under_one_lock(lock, values, total, bounds, buckets)


def _under_one_lock(
    lock: Lock,
    values: tuple[MutexValue, ...],
    total: MutexValue | None,
    bounds: tuple[float, ...],
    buckets: tuple[MutexValue, ...],
) -> JointRecord:
    # Unrolled for the shapes the sinks use: a cache get moves three counters and a
    # histogram, an HTTP event zero to three counters and a histogram, a query one counter
    # and a histogram. acquire/release, not ``with``: entering and leaving a with block
    # costs about twice as much. The values are floats: adding 1.0, not 1, keeps to the
    # interpreter's float-only fast path.
    if total is None and len(values) == 1:
        (only,) = values

        def count1(amount: float | None) -> None:
            lock.acquire()
            try:
                only._value += 1.0
            finally:
                lock.release()

        return count1
    if total is None:

        def count(amount: float | None) -> None:
            lock.acquire()
            try:
                for value in values:
                    value._value += 1.0
            finally:
                lock.release()

        return count
    # Most observations of a fast path land in the first bucket: no bisection for them.
    lowest, lowest_bucket = bounds[0], buckets[0]
    if not values:

        def observe(amount: float | None) -> None:
            if amount is None:
                return
            lock.acquire()
            try:
                total._value += amount
                if amount <= lowest:
                    lowest_bucket._value += 1.0
                else:
                    buckets[bisect_left(bounds, amount)]._value += 1.0
            finally:
                lock.release()

        return observe
    if len(values) == 1:
        (first,) = values

        def count1_and_observe(amount: float | None) -> None:
            lock.acquire()
            try:
                first._value += 1.0
                if amount is None:
                    return
                total._value += amount
                if amount <= lowest:
                    lowest_bucket._value += 1.0
                else:
                    buckets[bisect_left(bounds, amount)]._value += 1.0
            finally:
                lock.release()

        return count1_and_observe
    if len(values) == 2:
        first, second = values

        def count2_and_observe(amount: float | None) -> None:
            lock.acquire()
            try:
                first._value += 1.0
                second._value += 1.0
                if amount is None:
                    return
                total._value += amount
                if amount <= lowest:
                    lowest_bucket._value += 1.0
                else:
                    buckets[bisect_left(bounds, amount)]._value += 1.0
            finally:
                lock.release()

        return count2_and_observe
    if len(values) == 3:
        first, second, third = values

        def count3_and_observe(amount: float | None) -> None:
            lock.acquire()
            try:
                first._value += 1.0
                second._value += 1.0
                third._value += 1.0
                if amount is None:
                    return
                total._value += amount
                if amount <= lowest:
                    lowest_bucket._value += 1.0
                else:
                    buckets[bisect_left(bounds, amount)]._value += 1.0
            finally:
                lock.release()

        return count3_and_observe

    def count_and_observe(amount: float | None) -> None:
        lock.acquire()
        try:
            for value in values:
                value._value += 1.0
            if amount is None:
                return
            total._value += amount
            if amount <= lowest:
                lowest_bucket._value += 1.0
            else:
                buckets[bisect_left(bounds, amount)]._value += 1.0
        finally:
            lock.release()

    return count_and_observe
