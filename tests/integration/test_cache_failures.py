"""Unreachable servers, and django-redis missing altogether.

Each network backend is pointed at a loopback port nothing listens on, next to the
plain backend it wraps at the same port: every call must come out exactly as the
plain backend's does (the same exception type and message, or the same value), and
every get must count as a fail.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

import pytest
import redis
from asgiref.sync import async_to_sync
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


@dataclass(frozen=True)
class Unreachable:
    ours: str
    plain: str
    label: str
    location: Callable[[int], str]
    options: dict[str, object]
    unseen: frozenset[str] = frozenset()
    """Operations whose failure the client tells no one about (see the README)."""


def _aset_many_delegates_to_set_many() -> bool:
    """Whether BaseCache.aset_many runs a backend's own set_many (Django 6.x), rather than
    one aset per key (which pymemcache does not hide)."""

    class Probe(BaseCache):
        delegated = False

        def set_many(
            self, data: object, timeout: object = None, version: object = None
        ) -> list[str]:
            Probe.delegated = True
            return []

        async def aset(self, *args: object, **kwargs: object) -> None:
            return None

    asyncio.run(Probe({}).aset_many({"key": 1}))
    return Probe.delegated


_ASET_MANY_USES_SET_MANY: Final = _aset_many_delegates_to_set_many()


def _memcached(port: int) -> str:
    return f"127.0.0.1:{port}"


def _redis(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


UNREACHABLE = [
    pytest.param(
        Unreachable(
            "django_prometheus.cache.backends.memcached.PyMemcacheCache",
            "django.core.cache.backends.memcached.PyMemcacheCache",
            "memcached",
            _memcached,
            {},
        ),
        id="pymemcache",
    ),
    pytest.param(
        Unreachable(
            "django_prometheus.cache.backends.memcached.PyMemcacheCache",
            "django.core.cache.backends.memcached.PyMemcacheCache",
            "memcached",
            _memcached,
            {"ignore_exc": True},
            # HashClient swallows the error inside set_many and reports every key stored;
            # where Django's aset_many hands a backend's own set_many the work, that too.
            frozenset({"set_many", "aset_many"} if _ASET_MANY_USES_SET_MANY else {"set_many"}),
        ),
        id="pymemcache-ignore_exc",
    ),
    pytest.param(
        Unreachable(
            "django_prometheus.cache.backends.memcached.PyLibMCCache",
            "django.core.cache.backends.memcached.PyLibMCCache",
            "memcached",
            _memcached,
            {},
        ),
        id="pylibmc",
    ),
    pytest.param(
        Unreachable(
            "django_prometheus.cache.backends.redis.NativeRedisCache",
            "django.core.cache.backends.redis.RedisCache",
            "native_redis",
            _redis,
            {},
        ),
        id="native_redis",
    ),
    pytest.param(
        Unreachable(
            "django_prometheus.cache.backends.redis.RedisCache",
            "django_redis.cache.RedisCache",
            "redis",
            _redis,
            {},
        ),
        id="django_redis",
    ),
    pytest.param(
        Unreachable(
            "django_prometheus.cache.backends.redis.RedisCache",
            "django_redis.cache.RedisCache",
            "redis",
            _redis,
            {"IGNORE_EXCEPTIONS": True},
        ),
        id="django_redis-IGNORE_EXCEPTIONS",
    ),
]

Outcome = tuple[object, ...]


def outcome(call: Callable[[], object]) -> Outcome:
    try:
        return ("returned", call())
    except Exception as error:
        # pylibmc puts the address of its client object into the message.
        return ("raised", type(error), re.sub(r"0x[0-9a-f]+", "0x…", str(error)))


# (what, call, gets it makes)
CALLS: list[tuple[str, Callable[[BaseCache], object], int]] = [
    ("get", lambda cache: cache.get("key", "default"), 1),
    ("get again", lambda cache: cache.get("key"), 1),
    ("get_many", lambda cache: cache.get_many(["a", "b"]), 2),
    ("get_or_set", lambda cache: cache.get_or_set("key", "made"), 1),
    ("aget", lambda cache: async_to_sync(cache.aget)("key", "default"), 1),
]


@pytest.mark.parametrize("backend", UNREACHABLE)
def test_an_unreachable_server_counts_fails_and_changes_nothing_else(
    backend: Unreachable,
) -> None:
    location = backend.location(services.closed_port())
    common = {
        "LOCATION": location,
        "KEY_PREFIX": f"djp_cache_tests:{uuid.uuid4().hex}",
        "OPTIONS": backend.options,
    }
    ours_settings = {**common, "BACKEND": backend.ours}
    plain_settings = {**common, "BACKEND": backend.plain}
    with override_settings(CACHES={"default": ours_settings, "plain": plain_settings}):
        ours, plain = caches["default"], caches["plain"]
        snapshot = MetricsSnapshot()
        for what, call, _ in CALLS:
            expected = outcome(partial(call, plain))
            assert outcome(partial(call, ours)) == expected, what
        made = sum(gets for _, _, gets in CALLS)
        moved = tuple(snapshot.diff(sample, backend=backend.label) for sample in SAMPLES)
        assert moved == (made, 0, 0, made)


def test_the_plain_backends_do_raise_or_quietly_answer_the_default() -> None:
    """The comparison above is only worth something if the failures really happen."""
    port = services.closed_port()
    with override_settings(
        CACHES={
            "raising": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": _redis(port),
            },
            "ignoring": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": _redis(port),
                "OPTIONS": {"IGNORE_EXCEPTIONS": True},
            },
        }
    ):
        raised = outcome(lambda: caches["raising"].get("key"))
        assert raised[:2] == ("raised", redis.exceptions.ConnectionError)
        assert outcome(lambda: caches["ignoring"].get("key", "default")) == (
            "returned",
            "default",
        )


@pytest.mark.service("memcached")
def test_pymemcache_keys_on_a_lost_server_fail_while_the_others_hit() -> None:
    """pymemcache's HashClient quietly answers the default for keys of a server it gave up on."""
    servers = [services.MEMCACHED_LOCATION, _memcached(services.closed_port())]
    common = {
        "LOCATION": servers,
        "KEY_PREFIX": f"djp_cache_tests:{uuid.uuid4().hex}",
        "OPTIONS": {"ignore_exc": True},
    }
    with override_settings(
        CACHES={
            "default": {
                **common,
                "BACKEND": "django_prometheus.cache.backends.memcached.PyMemcacheCache",
            },
            "plain": {**common, "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache"},
        }
    ):
        ours, plain = caches["default"], caches["plain"]
        keys = [f"key-{index}" for index in range(20)]
        for key in keys:
            plain.set(key, key)  # lands on the live server or is quietly dropped
        try:
            snapshot = MetricsSnapshot()
            found = [key for key in keys if ours.get(key) == key]
            moved = tuple(snapshot.diff(sample, backend="memcached") for sample in SAMPLES)
        finally:
            plain.delete_many(keys)
    assert 0 < len(found) < len(keys), "the keys should be spread over both servers"
    assert moved == (len(keys), len(found), 0, len(keys) - len(found))


WITHOUT_DJANGO_REDIS = textwrap.dedent(
    """
    import sys

    sys.modules["django_redis"] = None  # as if it were not installed

    import django
    from django.conf import settings

    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django_prometheus.cache.backends.redis.NativeRedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": KEY_PREFIX,
            },
            "django_redis": {
                "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
            },
        }
    )
    django.setup()

    import django_prometheus.cache.backends.redis as module

    try:
        module.RedisCache
    except ImportError as error:
        print("attribute:", error)
    try:
        from django_prometheus.cache.backends.redis import RedisCache
    except ImportError as error:
        print("from-import:", error)

    from django.core.cache import InvalidCacheBackendError, caches

    try:
        caches["django_redis"]
    except InvalidCacheBackendError as error:
        print("caches:", error)

    from prometheus_client import REGISTRY

    cache = caches["default"]
    cache.set("key", 0)
    print("native:", type(cache).__name__, repr(cache.get("key", "default")))
    cache.delete("key")
    hits = REGISTRY.get_sample_value("django_cache_get_hits_total", {"backend": "native_redis"})
    print("hits:", hits)
    """
)

BACKEND = "django_prometheus.cache.backends.redis.RedisCache"
MESSAGE = (
    "django_prometheus.cache.backends.redis.RedisCache needs the optional django-redis "
    'package: pip install "django-prometheus[redis]" (NativeRedisCache, for Django\'s own '
    "Redis backend, does not need it)"
)


@pytest.mark.service("redis")
def test_without_django_redis_only_redis_cache_fails_and_says_what_to_install() -> None:
    script = (
        f"REDIS_URL = {services.REDIS_URL!r}\n"
        f"KEY_PREFIX = {'djp_cache_tests:' + uuid.uuid4().hex!r}\n" + WITHOUT_DJANGO_REDIS
    )
    environment = {**os.environ}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"attribute: {MESSAGE}",
        f"from-import: {MESSAGE}",
        f"caches: Could not find backend '{BACKEND}': {MESSAGE}",
        "native: NativeRedisCache 0",
        "hits: 1.0",
    ]


OPERATIONS = "django_cache_operations_total"
OPERATION_ERRORS = "django_cache_operation_errors_total"

# (what, operation, a call the application makes); the a… forms count under the sync name.
OPERATION_CALLS: list[tuple[str, str, Callable[[BaseCache], object]]] = [
    ("get", "get", lambda c: c.get("key", "default")),
    ("set", "set", lambda c: c.set("key", 1)),
    ("add", "add", lambda c: c.add("key", 1)),
    ("delete", "delete", lambda c: c.delete("key")),
    ("touch", "touch", lambda c: c.touch("key", 30)),
    ("incr", "incr", lambda c: c.incr("key")),
    ("decr", "decr", lambda c: c.decr("key")),
    ("has_key", "has_key", lambda c: c.has_key("key")),
    ("get_many", "get_many", lambda c: c.get_many(["a", "b"])),
    ("set_many", "set_many", lambda c: c.set_many({"a": 1, "b": 2})),
    ("delete_many", "delete_many", lambda c: c.delete_many(["a", "b"])),
    ("get_or_set", "get_or_set", lambda c: c.get_or_set("key", "made")),
    ("clear", "clear", lambda c: c.clear()),
    ("aget", "get", lambda c: async_to_sync(c.aget)("key", "default")),
    ("aset", "set", lambda c: async_to_sync(c.aset)("key", 1)),
    ("aadd", "add", lambda c: async_to_sync(c.aadd)("key", 1)),
    ("adelete", "delete", lambda c: async_to_sync(c.adelete)("key")),
    ("atouch", "touch", lambda c: async_to_sync(c.atouch)("key", 30)),
    ("aincr", "incr", lambda c: async_to_sync(c.aincr)("key")),
    ("adecr", "decr", lambda c: async_to_sync(c.adecr)("key")),
    ("ahas_key", "has_key", lambda c: async_to_sync(c.ahas_key)("key")),
    ("aget_many", "get_many", lambda c: async_to_sync(c.aget_many)(["a", "b"])),
    ("aset_many", "set_many", lambda c: async_to_sync(c.aset_many)({"a": 1, "b": 2})),
    ("adelete_many", "delete_many", lambda c: async_to_sync(c.adelete_many)(["a", "b"])),
    ("aget_or_set", "get_or_set", lambda c: async_to_sync(c.aget_or_set)("key", "made")),
    ("aclear", "clear", lambda c: async_to_sync(c.aclear)()),
]


def _operation_diffs(snapshot: MetricsSnapshot, sample: str, label: str) -> dict[str, float]:
    names = {operation for _, operation, _ in OPERATION_CALLS}
    diffs = {name: snapshot.diff(sample, backend=label, operation=name) for name in names}
    return {name: diff for name, diff in diffs.items() if diff}


@pytest.mark.parametrize("backend", UNREACHABLE)
@pytest.mark.parametrize(
    ("what", "operation", "call"), OPERATION_CALLS, ids=[what for what, _, _ in OPERATION_CALLS]
)
def test_every_operation_on_an_unreachable_server_is_an_error_and_answers_as_plain(
    backend: Unreachable, what: str, operation: str, call: Callable[[BaseCache], object]
) -> None:
    location = backend.location(services.closed_port())
    common = {
        "LOCATION": location,
        "KEY_PREFIX": f"djp_cache_tests:{uuid.uuid4().hex}",
        "OPTIONS": backend.options,
    }
    with override_settings(
        CACHES={
            "default": {**common, "BACKEND": backend.ours},
            "plain": {**common, "BACKEND": backend.plain},
        }
    ):
        ours, plain = caches["default"], caches["plain"]
        expected = outcome(partial(call, plain))
        snapshot = MetricsSnapshot()
        assert outcome(partial(call, ours)) == expected
        assert _operation_diffs(snapshot, OPERATIONS, backend.label) == {operation: 1}
        errors = {} if what in backend.unseen else {operation: 1}
        assert _operation_diffs(snapshot, OPERATION_ERRORS, backend.label) == errors


RAISING = [
    param
    for param in UNREACHABLE
    if param.id in {"pymemcache", "pylibmc", "native_redis", "django_redis"}
]


@pytest.mark.parametrize("backend", RAISING)
def test_the_error_reaching_the_caller_is_raised_where_the_client_raised_it(
    backend: Unreachable,
) -> None:
    location = backend.location(services.closed_port())
    common = {"LOCATION": location, "KEY_PREFIX": f"djp_cache_tests:{uuid.uuid4().hex}"}
    with override_settings(
        CACHES={
            "default": {**common, "BACKEND": backend.ours},
            "plain": {**common, "BACKEND": backend.plain},
        }
    ):
        expected = outcome(lambda: caches["plain"].set("key", 1))
        assert expected[0] == "raised"
        error_type = expected[1]
        assert isinstance(error_type, type)
        assert issubclass(error_type, Exception)
        with pytest.raises(error_type) as raised:
            caches["default"].set("key", 1)
    innermost = traceback.extract_tb(raised.value.__traceback__)[-1]
    assert "django_prometheus" not in innermost.filename
    assert any("django_prometheus" in str(entry.path) for entry in raised.traceback)
