"""Redis caches: Django's own backend and django-redis's.

``NativeRedisCache`` (Django's ``django.core.cache.backends.redis.RedisCache``, counted
under ``backend="native_redis"``) needs only redis-py. ``RedisCache`` (django-redis,
``backend="redis"``) needs the optional django-redis, so it is imported on first
access: without django-redis this module still imports, and only ``RedisCache``
raises an ImportError that says what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from django.core.cache.backends import redis as django_redis_backend

from django_prometheus.cache.instrument import InstrumentedCache

if TYPE_CHECKING:
    from django_prometheus.cache.backends._django_redis import RedisCache

__all__ = ["NativeRedisCache", "RedisCache"]

MISSING_DJANGO_REDIS: Final = (
    "django_prometheus.cache.backends.redis.RedisCache needs the optional django-redis "
    'package: pip install "django-prometheus[redis]" (NativeRedisCache, for Django\'s own '
    "Redis backend, does not need it)"
)
_OPTIONAL_PACKAGES: Final = frozenset({"django_redis", "redis"})


class NativeRedisCache(InstrumentedCache, django_redis_backend.RedisCache):
    backend_label: ClassVar[str] = "native_redis"
    _djp_leaves: ClassVar[frozenset[str]] = frozenset({"set", "delete", "touch", "clear"})
    _djp_fetches_many: ClassVar[bool] = True


def __getattr__(name: str) -> object:
    if name != "RedisCache":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from django_prometheus.cache.backends._django_redis import RedisCache
    except ImportError as error:
        if (error.name or "").partition(".")[0] not in _OPTIONAL_PACKAGES:
            raise
        raise ImportError(MISSING_DJANGO_REDIS, name=error.name) from error
    globals()["RedisCache"] = RedisCache
    return RedisCache
