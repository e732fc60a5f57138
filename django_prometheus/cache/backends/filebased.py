"""Django's file-system cache, counted under ``backend="filebased"``."""

from __future__ import annotations

from typing import ClassVar

from django.core.cache.backends import filebased

from django_prometheus.cache.instrument import InstrumentedCache

__all__ = ["FileBasedCache"]


class FileBasedCache(InstrumentedCache, filebased.FileBasedCache):
    backend_label: ClassVar[str] = "filebased"
    _djp_leaves: ClassVar[frozenset[str]] = frozenset({"set", "delete", "touch", "clear"})
