"""Cache events as the ``django_cache_*`` families."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from django_prometheus import state
from django_prometheus.families import CACHE
from django_prometheus.sinks.family_maker import FamilyMaker
from django_prometheus.sinks.protocols import CacheGetOutcome, CacheOperation
from django_prometheus.sinks.recorders import (
    Record,
    counter_inc,
    joint_record,
)
from django_prometheus.state import LazyMap

__all__ = ["PrometheusCacheSink"]


class _BoundPrometheusCacheSink:
    """The series of one backend label, ready to move; an operation's on its first call.

    Every value of the label shares the lock of its get count (see ``joint_record``), so
    that a get the application called moves its five values under one acquisition.
    """

    __slots__ = (
        "_backend",
        "_fails",
        "_finished",
        "_gets",
        "_gets_child",
        "_hits",
        "_misses",
        "_operations",
        "_outcomes",
        "_sink",
    )

    def __init__(self, sink: PrometheusCacheSink, backend: str) -> None:
        self._sink = sink
        self._backend = backend
        gets = self._gets_child = sink.gets.labels(backend)
        by_outcome = {
            "hit": sink.hits.labels(backend),
            "miss": sink.misses.labels(backend),
            "fail": sink.fails.labels(backend),
        }
        self._outcomes = {
            outcome: joint_record((gets, child), lock_of=gets)
            for outcome, child in by_outcome.items()
        }
        self._gets = counter_inc(gets)
        self._hits = counter_inc(by_outcome["hit"])
        self._misses = counter_inc(by_outcome["miss"])
        self._fails = counter_inc(by_outcome["fail"])
        # (done, failed) per operation, bound on first use; get's now, for get_finished.
        self._operations: dict[str, tuple[Record, Record]] = {}
        calls, errors, duration = self._operation_children("get")
        self._operations["get"] = (
            joint_record((calls,), duration, lock_of=gets),
            joint_record((calls, errors), duration, lock_of=gets),
        )
        self._finished = {
            "hit": joint_record((gets, by_outcome["hit"], calls), duration, lock_of=gets),
            "miss": joint_record((gets, by_outcome["miss"], calls), duration, lock_of=gets),
            "fail": joint_record((gets, by_outcome["fail"], calls, errors), duration, lock_of=gets),
        }

    def _operation_children(self, operation: str) -> tuple[Counter, Counter, Histogram]:
        sink, backend = self._sink, self._backend
        # The error series exists at 0 as soon as the operation is used, for ratios.
        return (
            sink.operations.labels(backend, operation),
            sink.operation_errors.labels(backend, operation),
            sink.operation_duration.labels(backend, operation),
        )

    def cache_get(self, outcome: CacheGetOutcome) -> None:
        self._outcomes[outcome](1)

    def get_finished(self, outcome: CacheGetOutcome, seconds: float) -> None:
        self._finished[outcome](seconds)

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        total = hits + misses + fails
        if total:
            self._gets(total)
        if hits:
            self._hits(hits)
        if misses:
            self._misses(misses)
        if fails:
            self._fails(fails)

    def _bind_operation(self, operation: str) -> tuple[Record, Record]:
        with state.creation_lock:
            bound = self._operations.get(operation)
            if bound is None:
                calls, errors, duration = self._operation_children(operation)
                gets = self._gets_child
                bound = self._operations[operation] = (
                    joint_record((calls,), duration, lock_of=gets),
                    joint_record((calls, errors), duration, lock_of=gets),
                )
            return bound

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        try:
            done = self._operations[operation][0]
        except KeyError:
            done = self._bind_operation(operation)[0]
        done(seconds)

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        try:
            failed = self._operations[operation][1]
        except KeyError:
            failed = self._bind_operation(operation)[1]
        failed(seconds)


class PrometheusCacheSink:
    gets: Counter
    hits: Counter
    misses: Counter
    fails: Counter
    operations: Counter
    operation_errors: Counter
    operation_duration: Histogram

    def __init__(self, family: FamilyMaker) -> None:
        family.make(self, CACHE, disabled_unregistered=True)
        self._bound: LazyMap[str, _BoundPrometheusCacheSink] = LazyMap()

    def bind(self, backend: str) -> _BoundPrometheusCacheSink:
        # Django makes a cache instance per thread (per request under ASGI): bind once per label.
        return self._bound.get(backend, lambda: _BoundPrometheusCacheSink(self, backend))
