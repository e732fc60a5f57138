"""use_sinks: nesting, exceptions, decorators, threads, and the slots it empties."""

from __future__ import annotations

import asyncio
import threading

import pytest

from django_prometheus.sinks.provider import (
    SinkSlot,
    current_sinks,
    default_sinks,
    fixed_slot,
    overriding_sinks,
)
from django_prometheus.testing import FakeHttpSink, FakeSinks, QueryExecuted, use_sinks


def http_slot() -> SinkSlot[object]:
    return SinkSlot(lambda bundle: "default" if bundle is None else bundle.http)


def test_blocks_nest_and_put_the_previous_sinks_back() -> None:
    slot = http_slot()
    outer, inner = FakeSinks(), FakeSinks()
    assert slot.get() == "default"
    with use_sinks(outer) as entered:
        assert entered is outer
        assert slot.get() is outer.http
        with use_sinks(inner):
            assert slot.get() is inner.http
            assert current_sinks() is inner
        assert slot.get() is outer.http
    assert slot.get() == "default"
    assert overriding_sinks() is None
    assert current_sinks() is default_sinks()


def test_an_exception_in_the_block_still_puts_the_sinks_back() -> None:
    fakes = FakeSinks()
    with pytest.raises(ZeroDivisionError), use_sinks(fakes):
        _ = 1 / 0
    assert overriding_sinks() is None


def test_blocks_may_end_in_any_order() -> None:
    first, second = use_sinks(FakeSinks()), use_sinks(FakeSinks())
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert overriding_sinks() is second.sinks
    second.__exit__(None, None, None)
    assert overriding_sinks() is None


def test_as_a_decorator_of_a_function() -> None:
    fakes = FakeSinks()

    @use_sinks(fakes)
    def inside() -> object:
        return current_sinks()

    assert inside() is fakes
    assert inside() is fakes  # the same decorator, entered again
    assert overriding_sinks() is None


def test_as_a_decorator_of_a_coroutine_function() -> None:
    fakes = FakeSinks()

    @use_sinks(fakes)
    async def inside() -> object:
        await asyncio.sleep(0)
        return current_sinks()

    assert asyncio.run(inside()) is fakes
    assert overriding_sinks() is None


def test_the_swap_reaches_other_threads() -> None:
    fakes = FakeSinks()
    seen: list[object] = []
    with use_sinks(fakes):
        thread = threading.Thread(target=lambda: seen.append(current_sinks()))
        thread.start()
        thread.join()
    assert seen == [fakes]


def test_a_fixed_slot_never_follows_a_swap() -> None:
    mine = FakeHttpSink()
    slot = fixed_slot(mine)
    with use_sinks(FakeSinks()):
        assert slot.get() is mine


def test_recorded_calls_have_named_fields_and_equal_plain_tuples() -> None:
    fakes = FakeSinks()
    fakes.db.bind("default", "sqlite").query_executed(0.5)
    call = fakes.db.calls[1]
    assert isinstance(call, QueryExecuted)
    assert (call.event, call.alias, call.vendor, call.seconds) == (
        "query_executed",
        "default",
        "sqlite",
        0.5,
    )
    assert call == ("query_executed", "default", "sqlite", 0.5)
    assert fakes.db.events() == ["bind", "query_executed"]
    fakes.clear()
    assert fakes.db.calls == []
