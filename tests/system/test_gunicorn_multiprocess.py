"""gunicorn with 4 sync workers in multiprocess mode: exact counts from one scrape.

The server is shared by the tests of this module, in order; every request the
tests send is planned (view, status, method), so each scrape must show exactly
the plan plus the harness's own scrapes. Workers are then killed with SIGKILL,
idle and mid-request: counts survive them, their live gauges go.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.system.conftest import Figures
from tests.system.harness import (
    WORKER_ALIVE_METRIC,
    Call,
    RunResult,
    Scrape,
    Server,
    run_calls,
    start_server,
    wait_until,
)
from tests.system.traffic import (
    Planned,
    assert_db_and_cache_counts,
    assert_http_counts,
    build_plan,
    wsgi_mix,
)

WORKERS = 4
CONCURRENCY = 8


@dataclass
class Gunicorn:
    server: Server
    sent: list[Planned] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Gunicorn]:
    server = start_server(
        "gunicorn",
        tmp_path_factory.mktemp("gunicorn4"),
        sqlite_template,
        workers=WORKERS,
        multiprocess=True,
    )
    try:
        yield Gunicorn(server)
    finally:
        server.stop()


def send(gunicorn: Gunicorn, plan: list[Planned]) -> RunResult:
    result = run_calls(gunicorn.server.port, [item.call for item in plan], CONCURRENCY)
    gunicorn.sent.extend(plan)
    assert result.errors == []
    assert [answer.status for answer in result.answers] == [item.status for item in plan]
    return result


def live_gauges(scrape: Scrape) -> set[int]:
    return {int(pid) for pid in scrape.label_values(WORKER_ALIVE_METRIC, "pid")}


def test_exact_counts_from_one_scrape(gunicorn: Gunicorn, figures: Figures) -> None:
    server = gunicorn.server
    plan = build_plan(wsgi_mix(), seed=1)
    result = send(gunicorn, plan)
    scrape = server.scrape()

    assert server.odd_answers == [], server.log()[-4000:]

    assert_http_counts(scrape, gunicorn.sent, server.scrapes)
    assert_db_and_cache_counts(scrape, gunicorn.sent, WORKERS)
    assert live_gauges(scrape) == set(server.worker_pids())
    figures.add("workers", WORKERS)
    figures.add("requests", len(plan))
    figures.add("concurrency", CONCURRENCY)
    figures.add("seconds", result.seconds)
    figures.add("requests per second", result.per_second)


def test_sigkill_of_an_idle_worker_loses_no_count_and_drops_its_gauge(
    gunicorn: Gunicorn, figures: Figures
) -> None:
    server = gunicorn.server
    assert server.multiproc_dir is not None
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    gunicorn.killed.append(victim)
    started = time.monotonic()
    assert wait_until(lambda: victim not in server.worker_pids(), timeout=30)
    server.wait_until_all_workers_serve()
    replaced_after = time.monotonic() - started

    # child_exit removed the dead worker's live gauge file and folded its counters into
    # the archives: its counts stay.
    assert not list(server.multiproc_dir.glob(f"gauge_live*_{victim}.db"))
    assert not (server.multiproc_dir / f"counter_{victim}.db").exists()
    assert (server.multiproc_dir / "counter_archive.db").exists()

    plan = build_plan(wsgi_mix(), seed=2)
    send(gunicorn, plan)
    scrape = server.scrape()
    assert victim not in live_gauges(scrape)
    assert live_gauges(scrape) == set(server.worker_pids())
    assert len(server.worker_pids()) == WORKERS
    assert server.odd_answers == [], server.log()[-4000:]
    assert_http_counts(scrape, gunicorn.sent, server.scrapes)
    assert_db_and_cache_counts(scrape, gunicorn.sent, WORKERS + len(gunicorn.killed))
    figures.add("killed worker", victim)
    figures.add("replacement serving after, seconds", replaced_after)
    figures.add("requests in total", len(gunicorn.sent))


def test_sigkill_mid_request_accounts_for_the_lost_request(
    gunicorn: Gunicorn, tmp_path: Path, figures: Figures
) -> None:
    server = gunicorn.server
    assert server.multiproc_dir is not None
    before = server.scrape()
    scrapes_before = server.scrapes
    slow = [Call("GET", "/slow/") for _ in range(48)]
    results: list[RunResult] = []
    client = threading.Thread(target=lambda: results.append(run_calls(server.port, slow, 8)))
    client.start()
    # Every worker is inside the 0.3 s slow view by now (8 clients, 4 workers).
    time.sleep(1.0)
    victim = server.worker_pids()[-1]
    os.kill(victim, signal.SIGKILL)
    client.join(timeout=120)
    assert not client.is_alive()
    (result,) = results
    assert wait_until(lambda: victim not in server.worker_pids(), timeout=30)
    server.wait_until_all_workers_serve()
    after = server.scrape()

    answered = sum(1 for answer in result.answers if answer.status == 200)
    lost = len(slow) - answered
    assert set(result.statuses()) <= {0, 200}
    # child_exit folded the dead worker's files into the archives.
    assert not list(server.multiproc_dir.glob(f"*_{victim}.db"))
    assert lost <= 1

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    # Scrapes after ``before``: readiness checks and ``after``. ``before`` itself had
    # entered before it was rendered and left after; ``after`` entered but has not left.
    scrapes = server.scrapes - scrapes_before
    # Whether the killed worker's last request had entered the middlewares.
    in_flight = delta("django_http_requests_before_middlewares_total") - answered - scrapes
    assert in_flight in (0, lost)
    assert delta("django_http_requests_before_middlewares_total") == answered + in_flight + scrapes
    assert delta("django_http_responses_before_middlewares_total") == answered + scrapes
    assert (
        delta(
            "django_http_responses_total_by_status_view_method_total",
            status="200",
            view="slow",
            method="GET",
        )
        == answered
    )
    assert (
        delta(
            "django_http_requests_total_by_view_transport_method_total",
            view="slow",
            transport="http",
            method="GET",
        )
        == answered + in_flight
    )
    assert victim not in live_gauges(after)
    assert live_gauges(after) == set(server.worker_pids())
    figures.add("slow requests sent", len(slow))
    figures.add("lost with the killed worker", lost)
    figures.add("of which had entered the middlewares", int(in_flight))
