"""Every instrumented cache backend against its real store, enabled through CACHES alone.

Each test works under a key prefix of its own (``djp_cache_tests:<uuid>``) and deletes
only the keys it wrote, so the shared Redis and memcached are left as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import BaseCache, caches
from django.test import override_settings

from django_prometheus.testutils import MetricsSnapshot
from tests import services

SAMPLES = (
    "django_cache_get_total",
    "django_cache_get_hits_total",
    "django_cache_get_misses_total",
    "django_cache_get_fail_total",
)
# Every key a test here writes; teardown deletes exactly these (under the test's prefix).
KEYS = ("key", "a", "b", "absent", *(f"stored-{index}" for index in range(16)))
FALSY_AND_OTHER_VALUES: tuple[object, ...] = (0, 0.0, "", b"", [], {}, False, None, "text", [1])


@dataclass(frozen=True)
class Backend:
    name: str
    ours: str
    plain: str
    label: str
    location: Callable[[Path], str]


BACKENDS = [
    pytest.param(
        Backend(
            "locmem",
            "django_prometheus.cache.backends.locmem.LocMemCache",
            "django.core.cache.backends.locmem.LocMemCache",
            "locmem",
            lambda _: f"djp-{uuid.uuid4().hex}",
        ),
        id="locmem",
    ),
    pytest.param(
        Backend(
            "filebased",
            "django_prometheus.cache.backends.filebased.FileBasedCache",
            "django.core.cache.backends.filebased.FileBasedCache",
            "filebased",
            lambda tmp_path: str(tmp_path / "cache"),
        ),
        id="filebased",
    ),
    pytest.param(
        Backend(
            "pymemcache",
            "django_prometheus.cache.backends.memcached.PyMemcacheCache",
            "django.core.cache.backends.memcached.PyMemcacheCache",
            "memcached",
            lambda _: services.MEMCACHED_LOCATION,
        ),
        id="pymemcache",
        marks=pytest.mark.service("memcached"),
    ),
    pytest.param(
        Backend(
            "pylibmc",
            "django_prometheus.cache.backends.memcached.PyLibMCCache",
            "django.core.cache.backends.memcached.PyLibMCCache",
            "memcached",
            lambda _: services.MEMCACHED_LOCATION,
        ),
        id="pylibmc",
        marks=pytest.mark.service("memcached"),
    ),
    pytest.param(
        Backend(
            "native_redis",
            "django_prometheus.cache.backends.redis.NativeRedisCache",
            "django.core.cache.backends.redis.RedisCache",
            "native_redis",
            lambda _: services.REDIS_URL,
        ),
        id="native_redis",
        marks=pytest.mark.service("redis"),
    ),
    pytest.param(
        Backend(
            "django_redis",
            "django_prometheus.cache.backends.redis.RedisCache",
            "django_redis.cache.RedisCache",
            "redis",
            lambda _: services.REDIS_URL,
        ),
        id="django_redis",
        marks=pytest.mark.service("redis"),
    ),
]


@dataclass
class Counted:
    cache: BaseCache
    plain: BaseCache
    """Django's (or django-redis's) own backend on the same store, under the same prefix."""
    label: str
    snapshot: MetricsSnapshot

    def moved(self) -> tuple[float, float, float, float]:
        """How far (gets, hits, misses, fails) of this backend moved since the snapshot."""
        diffs = [self.snapshot.diff(sample, backend=self.label) for sample in SAMPLES]
        return diffs[0], diffs[1], diffs[2], diffs[3]


@pytest.fixture(params=BACKENDS)
def counted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Counted]:
    backend: Backend = request.param
    settings = {
        "BACKEND": backend.ours,
        "LOCATION": backend.location(tmp_path),
        "KEY_PREFIX": f"djp_cache_tests:{uuid.uuid4().hex}",
        "TIMEOUT": 60,
    }
    plain = {**settings, "BACKEND": backend.plain}
    with override_settings(CACHES={"default": settings, "plain": plain}):
        cache = caches["default"]
        assert type(cache).__module__.startswith("django_prometheus.cache.backends.")
        try:
            yield Counted(cache, caches["plain"], backend.label, MetricsSnapshot())
        finally:
            cache.delete_many(KEYS)
            for version in (1, 2):
                cache.delete("key", version=version)
            cache.close()


def test_stored_values_come_back_as_stored_and_are_hits(counted: Counted) -> None:
    cache = counted.cache
    for index, value in enumerate(FALSY_AND_OTHER_VALUES):
        cache.set(f"stored-{index}", value)
    for index, value in enumerate(FALSY_AND_OTHER_VALUES):
        got = cache.get(f"stored-{index}", "the default")
        # As the backend stores it: pylibmc, for one, gives False back as 0.
        expected = counted.plain.get(f"stored-{index}", "the plain default")
        assert (got, type(got)) == (expected, type(expected))
        assert got == value
    hits = len(FALSY_AND_OTHER_VALUES)
    assert counted.moved() == (hits, hits, 0, 0)


def test_an_absent_key_answers_the_callers_default_and_is_a_miss(counted: Counted) -> None:
    default = object()
    assert counted.cache.get("absent", default) is default
    assert counted.cache.get("absent") is None
    assert counted.moved() == (2, 0, 2, 0)


def test_versions_are_kept_apart(counted: Counted) -> None:
    cache = counted.cache
    cache.set("key", "version two", version=2)
    assert cache.get("key", "nothing", version=2) == "version two"
    assert cache.get("key", "nothing") == "nothing"
    assert counted.moved() == (2, 1, 1, 0)


def test_get_many_counts_one_get_per_key(counted: Counted) -> None:
    cache = counted.cache
    cache.set("a", 0)
    cache.set("b", "")
    assert cache.get_many(["a", "absent", "b"]) == {"a": 0, "b": ""}
    assert cache.get_many([]) == {}
    assert counted.moved() == (3, 2, 1, 0)


def test_get_or_set_counts_one_get_per_call(counted: Counted) -> None:
    cache = counted.cache
    assert cache.get_or_set("key", lambda: 0) == 0
    assert counted.moved() == (1, 0, 1, 0)
    assert cache.get_or_set("key", 1) == 0
    assert counted.moved() == (2, 1, 1, 0)


async def test_async_lookups_count_once(counted: Counted) -> None:
    cache = counted.cache
    await cache.aset("a", "")
    assert await cache.aget("a", True) == ""
    assert await cache.aget("absent", "default") == "default"
    assert counted.moved() == (2, 1, 1, 0)
    assert await cache.aget_many(["a", "absent"]) == {"a": ""}
    assert counted.moved() == (4, 2, 2, 0)
    assert await cache.aget_or_set("key", "made") == "made"
    assert await cache.aget_or_set("key", "again") == "made"
    assert counted.moved() == (6, 3, 3, 0)


def test_other_caches_are_not_counted_under_this_label(counted: Counted) -> None:
    other_labels = {"locmem", "filebased", "memcached", "native_redis", "redis"} - {counted.label}
    counted.cache.get("absent")
    for label in other_labels:
        for sample in SAMPLES:
            counted.snapshot.assert_no_change(sample, backend=label)


OPERATION_NAMES = (
    "get", "set", "add", "delete", "touch", "incr", "decr", "has_key", "get_many", "set_many",
    "delete_many", "get_or_set", "clear",
)  # fmt: skip
OPERATIONS = "django_cache_operations_total"
OPERATION_ERRORS = "django_cache_operation_errors_total"
OPERATION_DURATIONS = "django_cache_operation_duration_seconds_count"

# (operation, the sync call, the async call); "key" holds 1 before each call.
CALLS: list[tuple[str, Callable[[BaseCache], object], Callable[[BaseCache], Awaitable[object]]]] = [
    ("get", lambda c: c.get("key"), lambda c: c.aget("key")),
    ("set", lambda c: c.set("key", 2), lambda c: c.aset("key", 2)),
    ("add", lambda c: c.add("a", 2), lambda c: c.aadd("a", 2)),
    ("delete", lambda c: c.delete("key"), lambda c: c.adelete("key")),
    ("touch", lambda c: c.touch("key", 30), lambda c: c.atouch("key", 30)),
    ("incr", lambda c: c.incr("key"), lambda c: c.aincr("key")),
    ("decr", lambda c: c.decr("key"), lambda c: c.adecr("key")),
    ("has_key", lambda c: c.has_key("key"), lambda c: c.ahas_key("key")),
    ("get_many", lambda c: c.get_many(["key", "a"]), lambda c: c.aget_many(["key", "a"])),
    ("set_many", lambda c: c.set_many({"a": 1, "b": 2}), lambda c: c.aset_many({"a": 1, "b": 2})),
    ("delete_many", lambda c: c.delete_many(["key", "a"]), lambda c: c.adelete_many(["key", "a"])),
    ("get_or_set", lambda c: c.get_or_set("a", 3), lambda c: c.aget_or_set("a", 3)),
    ("clear", lambda c: c.clear(), lambda c: c.aclear()),
]
CALL_IDS = [operation for operation, _, _ in CALLS]


def operations_moved(counted: Counted, sample: str) -> dict[str, float]:
    """How far each operation's series of ``sample`` moved, leaving out those that did not."""
    moved = {
        operation: counted.snapshot.diff(sample, backend=counted.label, operation=operation)
        for operation in OPERATION_NAMES
    }
    return {operation: diff for operation, diff in moved.items() if diff}


def assert_counted_once(counted: Counted, operation: str) -> None:
    assert operations_moved(counted, OPERATIONS) == {operation: 1}
    assert operations_moved(counted, OPERATION_DURATIONS) == {operation: 1}
    assert operations_moved(counted, OPERATION_ERRORS) == {}


@pytest.mark.parametrize(("operation", "call", "acall"), CALLS, ids=CALL_IDS)
def test_each_operation_counts_once_under_its_own_name(
    counted: Counted,
    operation: str,
    call: Callable[[BaseCache], object],
    acall: Callable[[BaseCache], Awaitable[object]],
) -> None:
    counted.cache.set("key", 1)
    counted.snapshot = MetricsSnapshot()
    call(counted.cache)
    assert_counted_once(counted, operation)


@pytest.mark.parametrize(("operation", "call", "acall"), CALLS, ids=CALL_IDS)
async def test_each_async_operation_counts_once_under_the_sync_name(
    counted: Counted,
    operation: str,
    call: Callable[[BaseCache], object],
    acall: Callable[[BaseCache], Awaitable[object]],
) -> None:
    await counted.cache.aset("key", 1)
    counted.snapshot = MetricsSnapshot()
    await acall(counted.cache)
    assert_counted_once(counted, operation)


@pytest.mark.parametrize(("operation", "call", "acall"), CALLS, ids=CALL_IDS)
def test_each_operation_answers_as_the_plain_backend(
    counted: Counted,
    operation: str,
    call: Callable[[BaseCache], object],
    acall: Callable[[BaseCache], Awaitable[object]],
) -> None:
    """Same store, same prefix: ours and the plain backend give the same answer."""
    answers = []
    for cache in (counted.cache, counted.plain):
        cache.delete_many(["a", "b"])
        cache.set("key", 1)
        answers.append(call(cache))
    assert answers[0] == answers[1]


def test_contract_gets_follow_the_calls_that_read(counted: Counted) -> None:
    """The get families keep their meaning: get_or_set is one get, get_many one per key."""
    cache = counted.cache
    cache.set("key", 1)
    counted.snapshot = MetricsSnapshot()
    cache.get_or_set("key", 5)
    cache.get_or_set("a", 5)
    cache.get_many(["key", "a", "absent"])
    cache.set("b", 1)
    cache.delete("b")
    gets, hits, misses, fails = counted.moved()
    assert (hits, misses, fails) == (3, 2, 0)
    assert gets == hits + misses
    assert operations_moved(counted, OPERATIONS) == {
        "get_or_set": 2,
        "get_many": 1,
        "set": 1,
        "delete": 1,
    }
