"""The counting rules of InstrumentedCache, against the recording fake sink.

LocMemCache and FileBasedCache need no server, so they carry the rules here; the
network backends are exercised against real servers in tests/integration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache.backends.base import BaseCache

from django_prometheus import state
from django_prometheus.cache.backends.filebased import FileBasedCache
from django_prometheus.cache.backends.locmem import LocMemCache
from django_prometheus.cache.instrument import InstrumentedCache
from django_prometheus.sinks.protocols import BoundCacheSink, CacheGetOutcome, CacheOperation
from django_prometheus.testing import CacheGet, CacheGetFinished, FakeCacheSink
from django_prometheus.testutils import MetricsSnapshot

ERRORS = "django_prometheus_instrumentation_errors_total"


def gets(sink: FakeCacheSink) -> list[str]:
    """The outcomes recorded by single gets, in order."""
    return [call.outcome for call in sink.calls if isinstance(call, CacheGet | CacheGetFinished)]


def test_each_backend_binds_its_label_once(sink: FakeCacheSink, tmp_path: Path) -> None:
    locmem = LocMemCache(f"djp-unit-{uuid.uuid4().hex}", {}, sink=sink)
    filebased = FileBasedCache(str(tmp_path), {}, sink=sink)
    for _ in range(3):
        locmem.get("k")
        filebased.get("k")
    assert [call for call in sink.calls if call[0] == "bind"] == [
        ("bind", "locmem"),
        ("bind", "filebased"),
    ]


@pytest.mark.parametrize(
    "stored", [0, 0.0, "", b"", [], {}, (), False, None, "value", [1, 2]], ids=repr
)
def test_a_stored_value_is_returned_as_stored_and_is_a_hit(
    cache: InstrumentedCache, sink: FakeCacheSink, stored: object
) -> None:
    cache.set("key", stored)
    got = cache.get("key", "the default")
    assert got == stored
    assert type(got) is type(stored)
    assert gets(sink) == ["hit"]


def test_an_absent_key_returns_the_callers_default_and_is_a_miss(
    cache: InstrumentedCache, sink: FakeCacheSink
) -> None:
    default = object()
    assert cache.get("absent", default) is default
    assert cache.get("absent") is None
    assert gets(sink) == ["miss", "miss"]


def test_versions_are_separate_keys(cache: InstrumentedCache, sink: FakeCacheSink) -> None:
    cache.set("key", "two", version=2)
    assert cache.get("key", "no", version=2) == "two"
    assert cache.get("key", "no") == "no"
    assert cache.get("key", "no", version=3) == "no"
    assert gets(sink) == ["hit", "miss", "miss"]


def test_get_many_counts_each_key_asked_for_once(
    cache: InstrumentedCache, sink: FakeCacheSink
) -> None:
    cache.set("a", 0)
    cache.set("b", None)
    assert cache.get_many(["a", "absent", "b"]) == {"a": 0, "b": None}
    assert gets(sink) == ["hit", "miss", "hit"]
    assert [call[0] for call in sink.calls if call[0].startswith("cache_")] == ["cache_get"] * 3


def test_get_or_set_counts_one_miss_then_one_hit(
    cache: InstrumentedCache, sink: FakeCacheSink
) -> None:
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return 0

    assert cache.get_or_set("key", make) == 0
    assert gets(sink) == ["miss"]
    assert cache.get_or_set("key", make) == 0
    assert gets(sink) == ["miss", "hit"]
    assert made == [1]


def test_get_or_set_returns_a_stored_falsy_value(
    cache: InstrumentedCache, sink: FakeCacheSink
) -> None:
    cache.set("key", False)
    assert cache.get_or_set("key", True) is False
    assert gets(sink) == ["hit"]


async def test_aget_counts_once(cache: InstrumentedCache, sink: FakeCacheSink) -> None:
    await cache.aset("key", "")
    assert await cache.aget("key", "default") == ""
    assert await cache.aget("absent", "default") == "default"
    assert gets(sink) == ["hit", "miss"]


async def test_aget_many_counts_each_key_once(
    cache: InstrumentedCache, sink: FakeCacheSink
) -> None:
    await cache.aset("a", [])
    assert await cache.aget_many(["a", "absent"]) == {"a": []}
    assert gets(sink) == ["hit", "miss"]


async def test_aget_or_set_counts_one_get(cache: InstrumentedCache, sink: FakeCacheSink) -> None:
    assert await cache.aget_or_set("key", lambda: 0) == 0
    assert gets(sink) == ["miss"]
    assert await cache.aget_or_set("key", 1) == 0
    assert gets(sink) == ["miss", "hit"]


def test_an_error_of_the_backend_is_a_fail_and_reaches_the_caller_unchanged(
    sink: FakeCacheSink,
) -> None:
    class KeyRefusedError(Exception):
        pass

    refused = KeyRefusedError("no such key for you")

    def refuse(key: object, key_prefix: str, version: object) -> str:
        raise refused

    cache = LocMemCache(f"djp-unit-{uuid.uuid4().hex}", {"KEY_FUNCTION": refuse}, sink=sink)
    with pytest.raises(KeyRefusedError) as raised:
        cache.get("key")
    assert raised.value is refused
    assert gets(sink) == ["fail"]


class _BrokenBound:
    def cache_get(self, outcome: CacheGetOutcome) -> None:
        raise RuntimeError("sink broke")

    def get_finished(self, outcome: CacheGetOutcome, seconds: float) -> None:
        raise RuntimeError("sink broke")

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        raise RuntimeError("sink broke")

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        raise RuntimeError("sink broke")

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        raise RuntimeError("sink broke")


class _BrokenBoundSink:
    def bind(self, backend: str) -> BoundCacheSink:
        return _BrokenBound()


class _BrokenBindSink:
    def bind(self, backend: str) -> BoundCacheSink:
        raise RuntimeError("bind broke")


@pytest.fixture
def fresh_error_log() -> Iterator[None]:
    state.reset()
    yield
    state.reset()


@pytest.mark.usefixtures("fresh_error_log")
def test_a_failing_sink_is_counted_and_the_cache_answers_as_usual() -> None:
    cache = LocMemCache(f"djp-unit-{uuid.uuid4().hex}", {}, sink=_BrokenBoundSink())
    cache.set("key", 0)
    snapshot = MetricsSnapshot()
    assert cache.get("key", "default") == 0
    assert cache.get("absent", "default") == "default"
    assert cache.get_or_set("other", 5) == 5
    # One per get; get_or_set's own get fails to record, and so does get_or_set itself.
    snapshot.assert_diff(4, ERRORS, component="cache")


@pytest.mark.usefixtures("fresh_error_log")
def test_a_failing_sink_does_not_hide_the_backends_own_error() -> None:
    def refuse(key: object, key_prefix: str, version: object) -> str:
        raise LookupError("refused")

    cache = LocMemCache(
        f"djp-unit-{uuid.uuid4().hex}", {"KEY_FUNCTION": refuse}, sink=_BrokenBoundSink()
    )
    snapshot = MetricsSnapshot()
    with pytest.raises(LookupError, match=r"^refused$"):
        cache.get("key")
    snapshot.assert_diff(1, ERRORS, component="cache")


@pytest.mark.usefixtures("fresh_error_log")
def test_a_failing_bind_is_counted_once_and_the_cache_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    snapshot = MetricsSnapshot()
    cache = LocMemCache(f"djp-unit-{uuid.uuid4().hex}", {}, sink=_BrokenBindSink())
    cache.set("key", "value")
    assert cache.get("key") == "value"
    assert cache.get("absent", 1) == 1
    snapshot.assert_diff(1, ERRORS, component="cache")
    assert "failed while recording cache metrics" in caplog.text


@pytest.mark.parametrize(
    ("backend", "label"),
    [
        ("django_prometheus.cache.backends.locmem.LocMemCache", "locmem"),
        ("django_prometheus.cache.backends.filebased.FileBasedCache", "filebased"),
        ("django_prometheus.cache.backends.memcached.PyMemcacheCache", "memcached"),
        ("django_prometheus.cache.backends.memcached.PyLibMCCache", "memcached"),
        ("django_prometheus.cache.backends.redis.RedisCache", "redis"),
        ("django_prometheus.cache.backends.redis.NativeRedisCache", "native_redis"),
    ],
)
def test_backend_labels_follow_the_contract(backend: str, label: str) -> None:
    from django.utils.module_loading import import_string

    cls = import_string(backend)
    assert issubclass(cls, InstrumentedCache)
    assert issubclass(cls, BaseCache)
    assert cls.backend_label == label


def test_the_established_metric_module_names_are_the_cache_families() -> None:
    from django_prometheus.cache import metrics
    from django_prometheus.sinks.prometheus import get_sinks

    families = get_sinks().cache
    assert metrics.django_cache_get_total is families.gets
    assert metrics.django_cache_hits_total is families.hits
    assert metrics.django_cache_misses_total is families.misses
    assert metrics.django_cache_get_fail_total is families.fails
    with pytest.raises(AttributeError, match="has no attribute 'django_cache_set_total'"):
        metrics.django_cache_set_total  # noqa: B018
