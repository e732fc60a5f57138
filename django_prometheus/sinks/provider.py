"""The current sinks: the one place every instrument Django builds gets its sink from.

Instruments hold a :class:`SinkSlot` per bound sink (a connection alias, a cache
label, a model, a middleware). A slot keeps the sink it resolved until the
current sinks change (``use_sinks`` entered or left, a ``PROMETHEUS_*`` setting
changed); then every slot is emptied and resolves again on its next event. So
the hot path pays one ``is None`` test, and a swap reaches connections that are
already open, pooled ones and model classes defined long before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar, cast

from django_prometheus import state
from django_prometheus.sinks.protocols import (
    CacheSink,
    DbSink,
    ErrorSink,
    HttpSink,
    MigrationSink,
    ModelSink,
)

__all__ = [
    "SinkBundle",
    "SinkSlot",
    "current_sinks",
    "default_sinks",
    "fixed_slot",
    "followed_slot",
    "overriding_sinks",
    "pop_sinks",
    "push_sinks",
    "refresh_slots",
]

_T = TypeVar("_T")


class SinkBundle(Protocol):
    """One sink per kind of event: what ``use_sinks`` swaps in as a whole."""

    @property
    def http(self) -> HttpSink: ...

    @property
    def db(self) -> DbSink: ...

    @property
    def cache(self) -> CacheSink: ...

    @property
    def model(self) -> ModelSink: ...

    @property
    def migration(self) -> MigrationSink: ...

    @property
    def errors(self) -> ErrorSink: ...


# Reentrant: a slot's bind may make prometheus families, whose code may report an error.
_lock = state.creation_lock
_overrides = state.sink_overrides
_slots = state.sink_slots


class SinkSlot(Generic[_T]):
    """The sink one instrument records into, resolved lazily and emptied on every swap.

    ``bind`` receives the bundle that ``use_sinks`` put in place, or None for the
    default (the prometheus sinks of the current configuration).
    """

    __slots__ = ("__weakref__", "_bind", "sink")

    def __init__(self, bind: Callable[[SinkBundle | None], _T], *, follow: bool = True) -> None:
        self.sink: _T | None = None
        self._bind = bind
        if follow:
            with _lock:
                _slots.add(self)

    def get(self) -> _T:
        sink = self.sink
        return self.resolve() if sink is None else sink

    def resolve(self) -> _T:
        # Under the lock, so a swap cannot slip in between choosing and storing.
        with _lock:
            sink = self.sink
            if sink is None:
                sink = self.sink = self._bind(overriding_sinks())
            return sink


def followed_slot(key: Hashable, bind: Callable[[SinkBundle | None], _T]) -> SinkSlot[_T]:
    """The one slot that follows the current sinks for ``key`` (an alias, a cache label),
    made with ``bind`` on first use; the same key always gives the same slot."""
    return cast("SinkSlot[_T]", state.followed_slots.get(key, lambda: SinkSlot(bind)))


def fixed_slot(sink: _T) -> SinkSlot[_T]:
    """A slot for a sink given by hand: it never follows a swap."""
    slot: SinkSlot[_T] = SinkSlot(lambda _bundle: sink, follow=False)
    slot.sink = sink
    return slot


def refresh_slots() -> None:
    """Make every slot resolve again on its next event."""
    with _lock:
        for slot in list(_slots):
            slot.sink = None


def overriding_sinks() -> SinkBundle | None:
    """The bundle ``use_sinks`` put in place most recently and still holds, if any."""
    overrides = _overrides
    return overrides[-1][1] if overrides else None


def default_sinks() -> SinkBundle:
    """The prometheus sinks of the global registry and the current configuration."""
    from django_prometheus.sinks.prometheus import get_sinks

    return get_sinks()


def current_sinks() -> SinkBundle:
    """What an instrument without a slot (error reporting, migrations) records into now."""
    override = overriding_sinks()
    return default_sinks() if override is None else override


def push_sinks(bundle: SinkBundle) -> object:
    """Put ``bundle`` in place for every instrument; returns the token for :func:`pop_sinks`."""
    token = object()
    with _lock:
        _overrides.append((token, bundle))
        refresh_slots()
    return token


def pop_sinks(token: object) -> None:
    """Take back what :func:`push_sinks` put in place; blocks may end in any order."""
    with _lock:
        for index, (held, _bundle) in enumerate(_overrides):
            if held is token:
                del _overrides[index]
                break
        refresh_slots()


def _setting_changed(*, setting: str = "", **_: object) -> None:
    if setting.startswith("PROMETHEUS_"):
        refresh_slots()


def _connect_setting_changed() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(_setting_changed, dispatch_uid="django_prometheus.sinks.provider")


_connect_setting_changed()
