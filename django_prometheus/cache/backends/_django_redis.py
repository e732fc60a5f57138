"""django-redis's cache, counted under ``backend="redis"``.

Import it as ``django_prometheus.cache.backends.redis.RedisCache``, which explains a
missing django-redis; this module itself simply needs it.

With ``IGNORE_EXCEPTIONS`` django-redis answers a default (``None``, ``{}``) where the
server failed. Each operation here runs django-redis's own method under django-redis's
own ``omit_exception`` decorator, asked to answer a marker instead of the default: so
ignoring, logging and re-raising stay django-redis's, and we see that it ignored an
error (a get counts as a fail, any operation as an error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from django_redis.cache import CONNECTION_INTERRUPTED, omit_exception
from django_redis.cache import RedisCache as DjangoRedisCache
from redis import Redis

from django_prometheus.cache.instrument import _MISSING, InstrumentedCache
from django_prometheus.cache.operations import clock, hid_failure

__all__ = ["RedisCache"]


def _seeing_ignored(name: str, ignored_answer: object = None) -> Callable[..., Any]:
    """django-redis's ``name``, answering as usual but reporting an ignored error."""
    decorated = getattr(DjangoRedisCache, name)
    undecorated = getattr(decorated, "__wrapped__", None)
    if undecorated is None:  # not django-redis's decorator any more: leave it alone
        return decorated  # type: ignore[no-any-return]
    marked = omit_exception(undecorated, return_value=CONNECTION_INTERRUPTED)

    def method(self: DjangoRedisCache, *args: object, **kwargs: object) -> object:
        answer = marked(self, *args, **kwargs)
        if answer is CONNECTION_INTERRUPTED:
            hid_failure()
            return ignored_answer
        return answer

    method.__name__ = method.__qualname__ = name
    return method


class _SeesIgnoredErrors(DjangoRedisCache):
    """Runs inside the counted operation (below InstrumentedCache in the bases)."""

    set = _seeing_ignored("set")
    add = _seeing_ignored("add")
    delete = _seeing_ignored("delete")
    delete_many = _seeing_ignored("delete_many")
    clear = _seeing_ignored("clear")
    set_many = _seeing_ignored("set_many")
    incr = _seeing_ignored("incr")
    decr = _seeing_ignored("decr")
    has_key = _seeing_ignored("has_key")
    touch = _seeing_ignored("touch")


class RedisCache(InstrumentedCache, _SeesIgnoredErrors):
    """django-redis, counted; failures it ignores (``IGNORE_EXCEPTIONS``) count as fails."""

    backend_label: ClassVar[str] = "redis"

    def get(
        self,
        key: object,
        default: object = None,
        version: int | None = None,
        client: Redis | None = None,
    ) -> object:
        # django-redis's own _get applies IGNORE_EXCEPTIONS: it raises, or answers
        # CONNECTION_INTERRUPTED where its get would quietly answer the default.
        start = clock()
        try:
            value = self._get(key, _MISSING, version, client)
        except Exception:
            self._djp_got("fail", clock() - start)
            raise
        seconds = clock() - start
        if value is _MISSING:
            self._djp_got("miss", seconds)
            return default
        if value is CONNECTION_INTERRUPTED:
            self._djp_got("fail", seconds)
            return default
        self._djp_got("hit", seconds)
        return value

    def get_many(
        self, keys: Iterable[object], version: int | None = None, client: Redis | None = None
    ) -> dict[object, object]:
        return self._djp_run("get_many", self._djp_redis_get_many, keys, version, client)

    def _djp_redis_get_many(
        self, keys: Iterable[object], version: int | None, client: Redis | None
    ) -> dict[object, object]:
        asked = list(keys)
        try:
            found = self._djp_get_many_or_interrupted(asked, version, client)
        except Exception:
            self._djp_record_many(0, 0, len(asked))
            raise
        if found is CONNECTION_INTERRUPTED:
            self._djp_record_many(0, 0, len(asked))
            hid_failure()
            return {}
        self._djp_count_found(asked, found, version)
        return found

    def _djp_fetch_many(
        self, keys: list[object], version: int | None, client: Redis | None
    ) -> dict[object, object]:
        # Only pass client when given: the sharded client's get_many takes none.
        if client is None:
            return self.client.get_many(keys, version=version)
        return self.client.get_many(keys, version=version, client=client)

    # django-redis's own decorator, so ignoring, logging and re-raising stay its own.
    _djp_get_many_or_interrupted = omit_exception(
        _djp_fetch_many, return_value=CONNECTION_INTERRUPTED
    )
