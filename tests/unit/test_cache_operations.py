"""Each cache call the application makes is one operation event, whatever the backend
calls inside it; errors reach the caller as raised and count once.

LocMemCache and FileBasedCache run Django's base implementations (get_many through get,
incr through get and set, get_or_set through get and add, every a… form through its
sync form in a thread), so they show the nesting without a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from django.core.cache.backends.base import BaseCache

from django_prometheus import state
from django_prometheus.cache.backends.locmem import LocMemCache
from django_prometheus.cache.instrument import InstrumentedCache
from django_prometheus.sinks.protocols import CacheOperation
from django_prometheus.testing import (
    CacheGetFinished,
    CacheOperationDone,
    CacheOperationFailed,
    FakeCacheSink,
)

Call = Callable[[BaseCache], object]
AsyncCall = Callable[[BaseCache], Awaitable[object]]

# (operation, sync call, async call); "key" holds 1 before each.
CALLS: list[tuple[CacheOperation, Call, AsyncCall]] = [
    ("get", lambda c: c.get("key"), lambda c: c.aget("key")),
    ("set", lambda c: c.set("key", 2), lambda c: c.aset("key", 2)),
    ("add", lambda c: c.add("new", 2), lambda c: c.aadd("new", 2)),
    ("delete", lambda c: c.delete("key"), lambda c: c.adelete("key")),
    ("touch", lambda c: c.touch("key", 30), lambda c: c.atouch("key", 30)),
    ("incr", lambda c: c.incr("key"), lambda c: c.aincr("key")),
    ("decr", lambda c: c.decr("key"), lambda c: c.adecr("key")),
    ("has_key", lambda c: c.has_key("key"), lambda c: c.ahas_key("key")),
    ("get_many", lambda c: c.get_many(["key", "x"]), lambda c: c.aget_many(["key", "x"])),
    ("set_many", lambda c: c.set_many({"x": 1, "y": 2}), lambda c: c.aset_many({"x": 1})),
    ("delete_many", lambda c: c.delete_many(["key", "x"]), lambda c: c.adelete_many(["key"])),
    ("get_or_set", lambda c: c.get_or_set("new", 3), lambda c: c.aget_or_set("new", 3)),
    ("clear", lambda c: c.clear(), lambda c: c.aclear()),
]
IDS = [operation for operation, _, _ in CALLS]


def operations(sink: FakeCacheSink) -> list[tuple[str, str]]:
    """(event, operation) of every operation event, in order."""
    found: list[tuple[str, str]] = []
    for call in sink.calls:
        if isinstance(call, CacheOperationDone | CacheOperationFailed):
            found.append((call.event, call.operation))
        elif isinstance(call, CacheGetFinished):
            found.append(
                ("operation_failed" if call.outcome == "fail" else "operation_done", "get")
            )
    return found


@pytest.mark.parametrize(("operation", "call", "acall"), CALLS, ids=IDS)
def test_a_call_is_one_operation_event(
    cache: InstrumentedCache,
    sink: FakeCacheSink,
    operation: CacheOperation,
    call: Call,
    acall: AsyncCall,
) -> None:
    cache.set("key", 1)
    sink.clear()
    call(cache)
    assert operations(sink) == [("operation_done", operation)]


@pytest.mark.parametrize(("operation", "call", "acall"), CALLS, ids=IDS)
async def test_an_async_call_is_one_operation_event_under_the_sync_name(
    cache: InstrumentedCache,
    sink: FakeCacheSink,
    operation: CacheOperation,
    call: Call,
    acall: AsyncCall,
) -> None:
    await cache.aset("key", 1)
    sink.clear()
    await acall(cache)
    assert operations(sink) == [("operation_done", operation)]


def test_durations_are_measured_and_positive(cache: InstrumentedCache, sink: FakeCacheSink) -> None:
    cache.set("key", 1)
    cache.get("key")
    seconds = [
        call.seconds
        for call in sink.calls
        if isinstance(call, CacheOperationDone | CacheGetFinished)
    ]
    assert len(seconds) == 2
    assert all(0 < value < 5 for value in seconds)


def test_nothing_is_left_marked_after_a_call(cache: InstrumentedCache) -> None:
    cache.get_or_set("key", 1)
    with pytest.raises(ValueError, match="not found"):
        cache.incr("absent")
    assert state.cache_call.get() is None


class RefusedError(Exception):
    pass


def _refusing(refused: RefusedError) -> Callable[[object, str, object], str]:
    def refuse(key: object, key_prefix: str, version: object) -> str:
        raise refused

    return refuse


# clear asks for no key, so a refusing key function cannot make it fail.
KEYED = [case for case in CALLS if case[0] != "clear"]


@pytest.mark.parametrize(("operation", "call", "acall"), KEYED, ids=[c[0] for c in KEYED])
def test_an_error_is_one_failed_operation_and_the_very_same_exception(
    sink: FakeCacheSink, operation: CacheOperation, call: Call, acall: AsyncCall
) -> None:
    refused = RefusedError("no key for you")
    cache = LocMemCache(
        f"djp-unit-{uuid.uuid4().hex}", {"KEY_FUNCTION": _refusing(refused)}, sink=sink
    )
    with pytest.raises(RefusedError) as raised:
        call(cache)
    assert raised.value is refused
    # The innermost frame is the key function's: the traceback is the backend's own.
    assert raised.traceback[-1].name == "refuse"
    assert operations(sink) == [("operation_failed", operation)]


@pytest.mark.parametrize(("operation", "call", "acall"), KEYED, ids=[c[0] for c in KEYED])
async def test_an_async_error_is_one_failed_operation_and_the_very_same_exception(
    sink: FakeCacheSink, operation: CacheOperation, call: Call, acall: AsyncCall
) -> None:
    refused = RefusedError("no key for you")
    cache = LocMemCache(
        f"djp-unit-{uuid.uuid4().hex}", {"KEY_FUNCTION": _refusing(refused)}, sink=sink
    )
    with pytest.raises(RefusedError) as raised:
        await acall(cache)
    assert raised.value is refused
    assert operations(sink) == [("operation_failed", operation)]


class _BrokenOperations(FakeCacheSink):
    def bind(self, backend: str) -> _BrokenBound:  # type: ignore[override]
        return _BrokenBound()


class _BrokenBound:
    def cache_get(self, outcome: object) -> None:
        pass

    def get_finished(self, outcome: object, seconds: float) -> None:
        pass

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        pass

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        raise RuntimeError("sink broke")

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        raise RuntimeError("sink broke")


@pytest.mark.parametrize(("operation", "call", "acall"), CALLS, ids=IDS)
def test_a_failing_sink_leaves_every_answer_as_it_was(
    operation: CacheOperation, call: Call, acall: AsyncCall
) -> None:
    from django.core.cache.backends.locmem import LocMemCache as PlainLocMemCache

    state.reset()
    ours = LocMemCache(f"djp-unit-{uuid.uuid4().hex}", {}, sink=_BrokenOperations())
    plain = PlainLocMemCache(f"djp-unit-{uuid.uuid4().hex}", {})
    answers = []
    for cache in (ours, plain):
        cache.set("key", 1)
        answers.append((call(cache), cache.get_many(["key", "new", "x", "y"])))
    assert answers[0] == answers[1]
    state.reset()
