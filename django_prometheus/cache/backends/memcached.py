"""Django's memcached backends (pymemcache and pylibmc), counted under ``backend="memcached"``.

pymemcache's HashClient quietly answers a default (``None``, ``False``) for a key whose
server it has marked failed or dead, and for any error when ``ignore_exc`` is set. After
each call we ask whether the key's server is one it gave up on; if so the call counts
as an error (a get as a fail). pylibmc raises its errors, so they count as they come.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol

from django.core.cache.backends import memcached
from django.core.cache.backends.base import DEFAULT_TIMEOUT

from django_prometheus.cache.instrument import InstrumentedCache
from django_prometheus.cache.operations import hid_failure

__all__ = ["PyLibMCCache", "PyMemcacheCache"]


class _ServerClient(Protocol):
    server: object


class _Hasher(Protocol):
    def get_node(self, key: str) -> str | None: ...


class _HashClientState(Protocol):
    """The parts of pymemcache's HashClient that tell which servers it has given up on."""

    clients: Mapping[str, _ServerClient]
    hasher: _Hasher
    _failed_clients: Mapping[object, object]
    _dead_clients: Mapping[object, object]


class _SeesLostServers(memcached.PyMemcacheCache):
    """Runs inside the counted operation and reports the failures HashClient hid."""

    def _djp_client_state(self) -> _HashClientState | None:
        client: _HashClientState | None = self.__dict__.get("_cache")
        if client is None or not (client._failed_clients or client._dead_clients):
            return None
        return client

    def _djp_lost(self, key: object, version: int | None) -> bool:
        # HashClient answers the default without asking a server it marked failed or dead
        # (and after any error when ignore_exc is set): that is a fail, not a miss.
        client = self._djp_client_state()
        if client is None:
            return False
        node = client.hasher.get_node(self.make_key(key, version))
        return node is None or client.clients[node].server in client._failed_clients

    def _djp_flag_lost(self, keys: Iterable[object], version: int | None) -> None:
        try:
            if self._djp_client_state() is not None and any(
                self._djp_lost(key, version) for key in keys
            ):
                hid_failure()
        except Exception:  # noqa: S110 - a guess about the client's state; never the host's error
            pass

    def set(
        self,
        key: object,
        value: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        super().set(key, value, timeout, version)
        self._djp_flag_lost((key,), version)

    def add(
        self,
        key: object,
        value: object,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        added = super().add(key, value, timeout, version)
        if not added:
            self._djp_flag_lost((key,), version)
        return added

    def delete(self, key: object, version: int | None = None) -> bool:
        deleted = super().delete(key, version)
        if not deleted:
            self._djp_flag_lost((key,), version)
        return deleted

    def touch(
        self, key: object, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        touched = super().touch(key, timeout, version)
        if not touched:
            self._djp_flag_lost((key,), version)
        return touched

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        failed = super().set_many(data, timeout, version)
        # With ignore_exc HashClient reports no key as failed for a server it gave up on.
        self._djp_flag_lost(data, version)
        return failed

    def incr(self, key: object, delta: int = 1, version: int | None = None) -> int:
        # With ignore_exc HashClient answers False, which Django passes on as the new value.
        value = super().incr(key, delta, version)
        self._djp_flag_lost((key,), version)
        return value

    def delete_many(self, keys: Iterable[object], version: int | None = None) -> None:
        asked = list(keys)
        super().delete_many(asked, version)
        self._djp_flag_lost(asked, version)

    def clear(self) -> None:
        super().clear()
        if self._djp_client_state() is not None:
            hid_failure()


class PyMemcacheCache(InstrumentedCache, _SeesLostServers):
    backend_label: ClassVar[str] = "memcached"
    _djp_checks_lost: ClassVar[bool] = True
    _djp_fetches_many: ClassVar[bool] = True

    def _djp_lost(self, key: object, version: int | None) -> bool:
        return _SeesLostServers._djp_lost(self, key, version)


class PyLibMCCache(InstrumentedCache, memcached.PyLibMCCache):
    backend_label: ClassVar[str] = "memcached"
    _djp_fetches_many: ClassVar[bool] = True
