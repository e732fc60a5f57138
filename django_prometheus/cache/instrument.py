"""Counting the calls of a Django cache backend, and the outcome of its gets.

:class:`InstrumentedCache` is mixed in front of a Django cache backend class. It
asks the backend for the key with a private sentinel as the default, so a
stored value, however falsy (``0``, ``""``, ``None`` …), is a hit, and only an
absent key is a miss; the caller still gets its own ``default`` back. A get
that raises is a fail and the error goes on to the caller unchanged.

What counts as a get (``django_cache_get_total`` and its outcomes):

- ``get`` and ``aget``: one get each (Django runs ``aget`` as ``get`` in a thread).
- ``get_many`` and ``aget_many``: one get per key asked for.
- ``get_or_set`` and ``aget_or_set``: one get, the first lookup; the check that
  follows the ``add`` on a miss is not counted again.
- Other calls that Django routes through ``get`` (``has_key`` and ``incr`` of
  some backends) count as the gets they are.

What counts as an operation (``django_cache_operations_total`` …): each call the
application makes, once, under its own name; see
:mod:`django_prometheus.cache.operations`.

A backend of your own can be counted the same way::

    class MyCache(InstrumentedCache, SomeBackend):
        backend_label = "mine"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import ClassVar, Final

from asgiref.sync import sync_to_async
from django.core.cache.backends.base import DEFAULT_TIMEOUT

import django_prometheus.checks  # noqa: F401  (registers W006 even when the app is not installed)
from django_prometheus import state
from django_prometheus.cache.operations import CountedOperations, clock, hid_failure
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.protocols import (
    BoundCacheSink,
    CacheGetOutcome,
    CacheOperation,
    CacheSink,
)
from django_prometheus.sinks.provider import SinkSlot, default_sinks, fixed_slot, followed_slot

__all__ = ["InstrumentedCache"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing cache key>"


# Never equal to anything a caller stores or passes as a default.
_MISSING: Final = _Missing()
_current: Final = state.cache_call
_running_call: Final = state.cache_call.get


class _NoSink:
    """Stands in when binding failed: the failure was reported once, the cache goes on."""

    __slots__ = ()

    def cache_get(self, outcome: CacheGetOutcome) -> None:
        pass

    def get_finished(self, outcome: CacheGetOutcome, seconds: float) -> None:
        pass

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        pass

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        pass

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        pass


def _bind(backend: str, sink: CacheSink) -> BoundCacheSink:
    try:
        return sink.bind(backend)
    except Exception as error:
        instrumentation_failed("cache", error)
        return _NoSink()


class InstrumentedCache(CountedOperations):
    """Counts the calls and gets of the cache backend that follows it in the bases."""

    backend_label: ClassVar[str]
    """The ``backend`` label of this class's series."""

    _djp_checks_lost: ClassVar[bool] = False
    """Whether :meth:`_djp_lost` is worth asking (set where it is overridden)."""

    _djp_fetches_many: ClassVar[bool] = False
    """Whether the backend's ``get_many`` fetches all keys at once instead of calling ``get``."""

    _djp_backend_get: ClassVar[Callable[..., object]]
    """The ``get`` that follows ours in this class's bases (``super().get``, found once)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._djp_backend_get = super().get

    def __init__(
        self, location: object, params: dict[str, object], *, sink: CacheSink | None = None
    ) -> None:
        # Django builds every backend as Backend(location, params); the backend that
        # follows us in the bases takes both.
        super().__init__(location, params)  # type: ignore[call-arg, arg-type]
        self._djp_inject(sink)

    def _djp_inject(self, sink: CacheSink | None) -> None:
        """Bind ``sink`` now; without one, the current sinks are bound on the first get."""
        if sink is not None:
            self._djp_slot = fixed_slot(_bind(self.backend_label, sink))

    @cached_property
    def _djp_slot(self) -> SinkSlot[BoundCacheSink]:
        # Django makes a cache instance per thread (per request under ASGI): one slot per label.
        backend = self.backend_label
        return followed_slot(
            ("cache", backend), lambda bundle: _bind(backend, (bundle or default_sinks()).cache)
        )

    @property
    def _djp_sink(self) -> BoundCacheSink:
        return self._djp_slot.get()

    def _djp_got(self, outcome: CacheGetOutcome, seconds: float) -> None:
        """One get is over: its outcome, and the operation when the application called it."""
        try:
            call = _current.get()
            if call is None:
                self._djp_sink.get_finished(outcome, seconds)
            else:
                self._djp_sink.cache_get(outcome)
                if outcome == "fail":
                    call.failed = True
        except Exception as error:
            instrumentation_failed("cache", error)

    def _djp_record_many(self, hits: int, misses: int, fails: int) -> None:
        try:
            self._djp_sink.cache_get_many(hits, misses, fails)
        except Exception as error:
            instrumentation_failed("cache", error)

    def _djp_lost(self, key: object, version: int | None) -> bool:
        """Whether an apparent miss was in fact the client giving up on an unreachable server.

        Only asked after a miss; backends whose client hides such failures override it.
        """
        return False

    def _djp_is_lost(self, key: object, version: int | None) -> bool:
        try:
            return self._djp_lost(key, version)
        except Exception as error:
            instrumentation_failed("cache", error)
            return False

    def _djp_count_found(
        self, keys: Iterable[object], found: Mapping[object, object], version: int | None
    ) -> None:
        """Count one get per key of a multi-key lookup that answered ``found``."""
        try:
            hits = misses = fails = 0
            for key in keys:
                if key in found:
                    hits += 1
                elif self._djp_checks_lost and self._djp_is_lost(key, version):
                    fails += 1
                else:
                    misses += 1
            self._djp_sink.cache_get_many(hits, misses, fails)
            if fails:
                hid_failure()
        except Exception as error:
            instrumentation_failed("cache", error)

    def get(self, key: object, default: object = None, version: int | None = None) -> object:
        start = clock()
        try:
            value = self._djp_backend_get(key, _MISSING, version)
        except Exception:
            self._djp_got("fail", clock() - start)
            raise
        seconds = clock() - start
        outcome: CacheGetOutcome
        if value is not _MISSING:
            outcome = "hit"
        else:
            value = default
            outcome = (
                "fail" if self._djp_checks_lost and self._djp_is_lost(key, version) else "miss"
            )
        # Inlined rather than _djp_got: this is the hot path.
        try:
            slot = self._djp_slot
            bound = slot.sink
            if bound is None:
                bound = slot.resolve()
            call = _running_call()
            if call is None:
                bound.get_finished(outcome, seconds)
            else:
                bound.cache_get(outcome)
                if outcome == "fail":
                    call.failed = True
        except Exception as error:
            instrumentation_failed("cache", error)
        return value

    async def aget(self, key: object, default: object = None, version: int | None = None) -> object:
        return await self._djp_arun("get", super().aget, key, default, version)

    def get_many(self, keys: Iterable[object], version: int | None = None) -> dict[object, object]:
        return self._djp_run("get_many", self._djp_get_many, keys, version)

    async def aget_many(
        self, keys: Iterable[object], version: int | None = None
    ) -> dict[object, object]:
        return await self._djp_arun("get_many", super().aget_many, keys, version)

    def _djp_get_many(self, keys: Iterable[object], version: int | None) -> dict[object, object]:
        if self._djp_fetches_many:
            return self._djp_get_many_counted(keys, version)
        found: dict[object, object] = super().get_many(keys, version)
        return found

    def _djp_get_many_counted(
        self, keys: Iterable[object], version: int | None
    ) -> dict[object, object]:
        """``get_many`` of a backend that fetches all keys at once instead of calling ``get``."""
        asked = list(keys)
        try:
            found: dict[object, object] = super().get_many(asked, version)
        except Exception:
            self._djp_record_many(0, 0, len(asked))
            raise
        self._djp_count_found(asked, found, version)
        return found

    def get_or_set(
        self,
        key: object,
        default: object | Callable[[], object],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> object:
        return self._djp_run("get_or_set", self._djp_get_or_set, key, default, timeout, version)

    async def aget_or_set(
        self,
        key: object,
        default: object | Callable[[], object],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> object:
        return await self._djp_arun(
            "get_or_set", self._djp_aget_or_set, key, default, timeout, version
        )

    def _djp_get_or_set(
        self,
        key: object,
        default: object | Callable[[], object],
        timeout: float | None,
        version: int | None,
    ) -> object:
        value = self.get(key, _MISSING, version)
        if value is not _MISSING:
            return value
        if callable(default):
            default = default()
        self.add(key, default, timeout=timeout, version=version)
        # Another caller may have added the key first; its value wins, as in Django.
        return super().get(key, default, version)

    async def _djp_aget_or_set(
        self,
        key: object,
        default: object | Callable[[], object],
        timeout: float | None,
        version: int | None,
    ) -> object:
        value = await self.aget(key, _MISSING, version)
        if value is not _MISSING:
            return value
        if callable(default):
            default = default()
        await self.aadd(key, default, timeout=timeout, version=version)
        return await sync_to_async(self._djp_get_uncounted, thread_sensitive=True)(
            key, default, version
        )

    def _djp_get_uncounted(self, key: object, default: object, version: int | None) -> object:
        return super().get(key, default, version)
