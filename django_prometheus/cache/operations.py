"""Counting every cache call the application makes, once, under its own name.

Django's backends call each other: ``get_or_set`` calls ``get`` and ``add``,
``get_many`` may call ``get`` per key, ``incr`` may call ``get`` and ``set``, and
every ``a…`` form runs its sync form (or other ``a…`` forms) in a worker thread.
The outermost call the application makes puts a :class:`~django_prometheus.state.CacheCall`
in a context variable for its duration; every call that finds one there is the
backend's own and runs uncounted. ``sync_to_async`` copies the context into its
thread, so an ``aset``'s ``set`` sees the ``aset``'s call too.

An operation counts as an error when it raises (the exception reaches the caller as
it was raised) or when code below it saw a failure the client hid and said so
through :func:`hid_failure` (a ``get`` of an unreachable server answered as a
miss, django-redis's ``IGNORE_EXCEPTIONS``, pymemcache giving up on a server).

``get`` is not in this module: it is the hot path and lives, inlined, in
:mod:`django_prometheus.cache.instrument`. It never calls another operation.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from django_prometheus import state
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.protocols import BoundCacheSink, CacheOperation
from django_prometheus.sinks.provider import SinkSlot

__all__ = ["CountedOperations", "clock", "hid_failure"]

_R = TypeVar("_R")

clock: Final = time.perf_counter
_current: Final = state.cache_call


def hid_failure() -> None:
    """The client hid a failure from the operation running now: count it as an error."""
    call = _current.get()
    if call is not None:
        call.failed = True


class CountedOperations(BaseCache):
    """Every public operation but ``get``, each counted once when the application calls it."""

    if TYPE_CHECKING:

        @cached_property
        def _djp_slot(self) -> SinkSlot[BoundCacheSink]: ...  # InstrumentedCache's

    _djp_leaves: ClassVar[frozenset[str]] = frozenset()
    """Operations the backend runs without calling another operation and without hiding a
    failure: they skip the context variable. Empty unless a backend is known to qualify."""

    def _djp_finished(self, operation: CacheOperation, seconds: float, failed: bool) -> None:
        try:
            slot = self._djp_slot
            bound = slot.sink
            if bound is None:
                bound = slot.resolve()
            if failed:
                bound.operation_failed(operation, seconds)
            else:
                bound.operation_done(operation, seconds)
        except Exception as error:
            instrumentation_failed("cache", error)

    def _djp_run(
        self, operation: CacheOperation, call: Callable[..., _R], *args: object, **kwargs: object
    ) -> _R:
        if _current.get() is not None:
            return call(*args, **kwargs)
        if operation in self._djp_leaves:
            start = clock()
            try:
                result = call(*args, **kwargs)
            except Exception:
                self._djp_finished(operation, clock() - start, True)
                raise
            self._djp_finished(operation, clock() - start, False)
            return result
        running = state.CacheCall()
        token = _current.set(running)
        start = clock()
        try:
            result = call(*args, **kwargs)
        except Exception:
            self._djp_finished(operation, clock() - start, True)
            raise
        finally:
            _current.reset(token)
        self._djp_finished(operation, clock() - start, running.failed)
        return result

    async def _djp_arun(
        self,
        operation: CacheOperation,
        call: Callable[..., Awaitable[_R]],
        *args: object,
        **kwargs: object,
    ) -> _R:
        # Always marked: an a… form runs its sync form, in another thread.
        if _current.get() is not None:
            return await call(*args, **kwargs)
        running = state.CacheCall()
        token = _current.set(running)
        start = clock()
        try:
            result = await call(*args, **kwargs)
        except Exception:
            self._djp_finished(operation, clock() - start, True)
            raise
        finally:
            _current.reset(token)
        self._djp_finished(operation, clock() - start, running.failed)
        return result

    # ``**options`` passes a backend's own keyword arguments (django-redis's ``client=``,
    # ``nx=``) through unchanged, and every answer is the backend's, even where Django's
    # signature says None (django-redis's set answers a bool, Redis's clear True).

    def set(
        self,
        key: object,
        value: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> None:
        return self._djp_run("set", super().set, key, value, timeout, version, **options)

    async def aset(
        self,
        key: object,
        value: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> None:
        return await self._djp_arun("set", super().aset, key, value, timeout, version, **options)

    def add(
        self,
        key: object,
        value: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> bool:
        return self._djp_run("add", super().add, key, value, timeout, version, **options)

    async def aadd(
        self,
        key: object,
        value: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> bool:
        return await self._djp_arun("add", super().aadd, key, value, timeout, version, **options)

    def delete(self, key: object, version: int | None = None, **options: object) -> bool:
        return self._djp_run("delete", super().delete, key, version, **options)

    async def adelete(self, key: object, version: int | None = None, **options: object) -> bool:
        return await self._djp_arun("delete", super().adelete, key, version, **options)

    def touch(
        self,
        key: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> bool:
        return self._djp_run("touch", super().touch, key, timeout, version, **options)

    async def atouch(
        self,
        key: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> bool:
        return await self._djp_arun("touch", super().atouch, key, timeout, version, **options)

    def incr(
        self, key: object, delta: int = 1, version: int | None = None, **options: object
    ) -> int:
        return self._djp_run("incr", super().incr, key, delta, version, **options)

    async def aincr(
        self, key: object, delta: int = 1, version: int | None = None, **options: object
    ) -> int:
        return await self._djp_arun("incr", super().aincr, key, delta, version, **options)

    def decr(
        self, key: object, delta: int = 1, version: int | None = None, **options: object
    ) -> int:
        return self._djp_run("decr", super().decr, key, delta, version, **options)

    async def adecr(
        self, key: object, delta: int = 1, version: int | None = None, **options: object
    ) -> int:
        return await self._djp_arun("decr", super().adecr, key, delta, version, **options)

    def has_key(self, key: object, version: int | None = None, **options: object) -> bool:
        return self._djp_run("has_key", super().has_key, key, version, **options)

    async def ahas_key(self, key: object, version: int | None = None, **options: object) -> bool:
        return await self._djp_arun("has_key", super().ahas_key, key, version, **options)

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> list[Any]:
        return self._djp_run("set_many", super().set_many, data, timeout, version, **options)

    async def aset_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
        **options: object,
    ) -> list[Any]:
        return await self._djp_arun(
            "set_many", super().aset_many, data, timeout, version, **options
        )

    def delete_many(
        self, keys: Iterable[object], version: int | None = None, **options: object
    ) -> None:
        return self._djp_run("delete_many", super().delete_many, keys, version, **options)

    async def adelete_many(
        self, keys: Iterable[object], version: int | None = None, **options: object
    ) -> None:
        return await self._djp_arun("delete_many", super().adelete_many, keys, version, **options)

    def clear(self) -> None:
        return self._djp_run("clear", super().clear)

    async def aclear(self) -> None:
        return await self._djp_arun("clear", super().aclear)
