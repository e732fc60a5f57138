"""Fixtures shared by the unit tests of the cache instrument and its operations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_prometheus.cache.backends.filebased import FileBasedCache
from django_prometheus.cache.backends.locmem import LocMemCache
from django_prometheus.cache.instrument import InstrumentedCache
from django_prometheus.testing import FakeCacheSink


@pytest.fixture
def sink() -> FakeCacheSink:
    return FakeCacheSink()


@pytest.fixture(params=["locmem", "filebased"])
def cache(
    request: pytest.FixtureRequest, sink: FakeCacheSink, tmp_path: Path
) -> Iterator[InstrumentedCache]:
    """Our locmem and filebased backends, recording into ``sink``."""
    made: InstrumentedCache
    if request.param == "locmem":
        made = LocMemCache(f"djp-unit-{uuid.uuid4().hex}", {}, sink=sink)
    else:
        made = FileBasedCache(str(tmp_path / "cache"), {}, sink=sink)
    sink.clear()  # the bind; each test asserts the events of its own calls
    yield made
    made.clear()
