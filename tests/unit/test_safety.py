from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from django_prometheus import safety, state
from django_prometheus.testing import FakeErrorSink


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> Iterator[None]:
    state.reset()
    yield
    state.reset()


class BrokenSink:
    def instrumentation_failed(self, component: str) -> None:
        raise RuntimeError("sink down")


def test_counts_every_error_but_logs_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    sink = FakeErrorSink()
    caplog.set_level(logging.ERROR, logger="django_prometheus")
    for _ in range(3):
        safety.instrumentation_failed("http", ValueError("bad label"), sink)
    safety.instrumentation_failed("db", KeyError("x"), sink)
    safety.instrumentation_failed("export", KeyError("y"), sink)
    assert sink.calls == [
        ("instrumentation_failed", "http"),
        ("instrumentation_failed", "http"),
        ("instrumentation_failed", "http"),
        ("instrumentation_failed", "db"),
        ("instrumentation_failed", "export"),
    ]
    suffix = " (0 similar errors suppressed since the last report)"
    assert [record.getMessage() for record in caplog.records] == [
        "django-prometheus failed while recording http metrics; the request was not affected"
        + suffix,
        "django-prometheus failed while recording db metrics; the operation was not affected"
        + suffix,
        "django-prometheus failed while serving a scrape; a failing collector answers 503, "
        "a failing pre-scrape hook leaves the scrape as it was" + suffix,
    ]
    assert caplog.records[0].exc_info is not None
    assert caplog.records[0].exc_info[1] is not None
    assert str(caplog.records[0].exc_info[1]) == "bad label"


def test_reports_suppressed_count_after_the_interval(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FakeErrorSink()
    now = [1000.0]
    monkeypatch.setattr("django_prometheus.safety.time.monotonic", lambda: now[0])
    caplog.set_level(logging.ERROR, logger="django_prometheus")
    safety.instrumentation_failed("cache", ValueError("1"), sink)
    safety.instrumentation_failed("cache", ValueError("2"), sink)
    safety.instrumentation_failed("cache", ValueError("3"), sink)
    now[0] += safety.LOG_INTERVAL_SECONDS
    safety.instrumentation_failed("cache", ValueError("4"), sink)
    assert len(caplog.records) == 2
    assert "(2 similar errors suppressed since the last report)" in caplog.records[1].getMessage()


def test_never_raises_even_when_the_sink_fails(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="django_prometheus")
    safety.instrumentation_failed("model", ValueError("boom"), BrokenSink())
    assert len(caplog.records) == 1
