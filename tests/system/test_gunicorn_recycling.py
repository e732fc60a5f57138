"""gunicorn recycling workers (``--max-requests``) in multiprocess mode: child_exit
compacts every exited worker, totals stay exact, the directory stays small and scrapes do
not slow down as workers come and go.

5,000 requests by default; ``DJP_SYSTEM_RECYCLING_REQUESTS`` changes it (a multiple of
500). Each worker boots Django anew, so most of the time goes to the ~200 worker boots.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest

from django_prometheus.multiprocess_compaction import ARCHIVE_SUFFIX, WorkerFile, parse_name
from tests.system.conftest import Figures
from tests.system.harness import Server, run_calls, start_server
from tests.system.traffic import Planned, assert_http_counts, build_plan, wsgi_mix

WORKERS = 4
# Plans of 1,000 requests (wsgi_mix), sent in batches with a scrape point after each.
REQUESTS = int(os.environ.get("DJP_SYSTEM_RECYCLING_REQUESTS", "5000"))
BATCH_SIZE = 500
# Scrape durations are measured at the client on a shared machine: each point is the
# median of this many scrapes, so one scrape that waits for a compaction or a booting
# worker does not decide the comparison.
SCRAPES_PER_POINT = 7
# The load of other processes comes and goes; a directory that grew would keep every scrape
# slow. So the last point is measured up to this many more times before the bound fails.
LAST_POINT_RETRIES = 2
# The files a worker of the system-test project writes (one per type and gauge mode, as
# prometheus_client lays them out): the counters and histograms, the in-progress gauge
# (livesum), the migration gauges (livemostrecent, read on a scrape) and the test project's
# worker-alive gauge (liveall). None is an 'all' gauge, so an exited worker leaves nothing.
LIVE_WORKER_PREFIXES = frozenset(
    {"counter", "histogram", "gauge_livesum", "gauge_liveall", "gauge_livemostrecent"}
)
ARCHIVES = frozenset({"counter_archive.db", "histogram_archive.db"})


def per_pid_files(directory: Path) -> list[WorkerFile]:
    return [
        parsed for path in directory.glob("*.db") if (parsed := parse_name(path.name)) is not None
    ]


def timed_scrape_point(server: Server, sent: list[Planned]) -> float:
    """The median duration of a few scrapes with every worker up; the last one's totals
    must be exact."""
    server.wait_until_all_workers_serve()
    durations = []
    for _ in range(SCRAPES_PER_POINT):
        started = time.perf_counter()
        scrape = server.scrape()
        durations.append(time.perf_counter() - started)
    assert_http_counts(scrape, sent, server.scrapes)
    return statistics.median(durations)


def test_recycled_workers_are_compacted_and_totals_stay_exact(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, figures: Figures
) -> None:
    started = time.monotonic()
    server = start_server(
        "gunicorn",
        tmp_path_factory.mktemp("recycling"),
        sqlite_template,
        workers=WORKERS,
        multiprocess=True,
        env={"DJP_SYSTEM_MIGRATIONS": "1"},
        server_args=("--max-requests", "25", "--max-requests-jitter", "5"),
    )
    try:
        directory = server.multiproc_dir
        assert directory is not None
        assert REQUESTS % BATCH_SIZE == 0
        seeds = range(7, 7 + (REQUESTS + 999) // 1000)
        plan = [item for seed in seeds for item in build_plan(wsgi_mix(), seed=seed)][:REQUESTS]
        prefixes_seen: set[str] = set()
        sent: list[Planned] = []
        medians: list[float] = []
        files_at_points: list[int] = []
        requests_seconds = 0.0
        for offset in range(0, len(plan), BATCH_SIZE):
            batch = plan[offset : offset + BATCH_SIZE]
            result = run_calls(server.port, [item.call for item in batch], 8)
            requests_seconds += result.seconds
            assert result.errors == []
            assert [answer.status for answer in result.answers] == [item.status for item in batch]
            sent += batch
            # The first point comes after the first batch: every series of the plan exists by
            # then, so the points differ in how many workers came and went, not in series.
            medians.append(timed_scrape_point(server, sent))
            files_at_points.append(len(list(directory.glob("*.db"))))
            prefixes_seen.update(parsed.prefix for parsed in per_pid_files(directory))
        assert server.odd_answers == [], server.log()[-4000:]
        last = [medians[-1]]
        while min(last) > 2 * medians[0] and len(last) <= LAST_POINT_RETRIES:
            last.append(timed_scrape_point(server, sent))
        # The last point's scrapes take at most twice as long as the first point's.
        assert min(last) <= 2 * medians[0], (medians, last)

        # The scrapes above count towards --max-requests too, so a worker may exit just now:
        # the master compacts it once it has reaped it (child_exit). Wait for that, without
        # sending requests that would recycle another worker.
        deadline = time.monotonic() + 15
        while True:
            live = set(server.worker_pids())
            files = per_pid_files(directory)
            exited = {parsed.pid for parsed in files} - live
            if not exited or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        names = sorted(path.name for path in directory.glob("*.db"))
        # Exited workers leave no file: everything they wrote is in the archives or was a
        # live gauge.
        left = sorted(f"{p.prefix}_{p.pid}.db" for p in files if p.pid in exited)
        assert left == []
        assert prefixes_seen == LIVE_WORKER_PREFIXES
        assert {parsed.prefix for parsed in files} <= LIVE_WORKER_PREFIXES
        assert {name for name in names if name.endswith(ARCHIVE_SUFFIX)} == ARCHIVES
        # So the directory holds at most one file per type and gauge mode per live worker,
        # and the archives.
        assert len(names) <= len(LIVE_WORKER_PREFIXES) * WORKERS + len(ARCHIVES)
        figures.add("requests", len(plan))
        figures.add("seconds sending requests", requests_seconds)
        figures.add("seconds in all", time.monotonic() - started)
        figures.add("scrapes", server.scrapes)
        figures.add("scrape median ms, first point", medians[0] * 1000)
        figures.add("scrape median ms, last point", min(last) * 1000)
        figures.add("last point measured", f"{len(last)} time(s)")
        figures.add("scrape median ms, every point", " ".join(f"{m * 1000:.1f}" for m in medians))
        figures.add("files at every point", " ".join(str(count) for count in files_at_points))
        figures.add("files at the end", len(names))
        figures.add("live workers' files at the end", " ".join(sorted(p.prefix for p in files)))
    finally:
        server.stop()
