"""Django's local-memory cache, counted under ``backend="locmem"``."""

from __future__ import annotations

from typing import ClassVar

from django.core.cache.backends import locmem

from django_prometheus.cache.instrument import InstrumentedCache

__all__ = ["LocMemCache"]


class LocMemCache(InstrumentedCache, locmem.LocMemCache):
    backend_label: ClassVar[str] = "locmem"
    _djp_leaves: ClassVar[frozenset[str]] = frozenset({"set", "delete", "touch", "clear"})
