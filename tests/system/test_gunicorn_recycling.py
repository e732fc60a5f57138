"""gunicorn recycling workers (``--max-requests``) in multiprocess mode: child_exit
compacts every exited worker, totals stay exact, the directory stays small and scrapes do
not slow down as workers come and go.

prometheus_client keeps one file per type (and gauge mode) per process. With the families
that are counters and histograms (the in-progress gauge switched off, no migration gauges)
a live worker has exactly two files, and the first test holds the directory to two per
live worker plus the archives over 5,000 requests (``DJP_SYSTEM_RECYCLING_REQUESTS``
changes it; a multiple of 500). The second runs the default families with the migration
gauges and a test-only ``liveall`` gauge: each live gauge mode adds one file per live
worker, and an exited worker still leaves none. Each worker boots Django anew, so most of
the time goes to the worker boots (about 40 per 1,000 requests).
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
REQUESTS_WITH_GAUGES = 1000
BATCH_SIZE = 500
# Scrape durations are measured at the client on a shared machine: each point is the
# median of this many scrapes, so one scrape that waits for a compaction or a booting
# worker does not decide the comparison.
SCRAPES_PER_POINT = 7
# The load of other processes comes and goes; a directory that grew would keep every scrape
# slow. So the last point is measured up to this many more times before the bound fails.
LAST_POINT_RETRIES = 2
# What a worker writes without gauges, and what compaction folds it into.
COUNTERS_AND_HISTOGRAMS = frozenset({"counter", "histogram"})
# With the gauges: also the in-progress gauge (livesum), the migration gauges
# (livemostrecent, read on a scrape) and the test project's worker-alive gauge (liveall).
# None is an 'all' gauge, so an exited worker leaves nothing.
WITH_GAUGES = COUNTERS_AND_HISTOGRAMS | {"gauge_livesum", "gauge_liveall", "gauge_livemostrecent"}
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


def recycle(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    figures: Figures,
    requests: int,
    env: dict[str, str],
    prefixes: frozenset[str],
) -> None:
    """Send ``requests`` through 4 recycling workers; check the totals at every point, the
    scrape time of the last point against the first, and that the directory ends with the
    archives and, per live worker, exactly one file of each of ``prefixes``."""
    started = time.monotonic()
    server = start_server(
        "gunicorn",
        tmp_path_factory.mktemp("recycling"),
        sqlite_template,
        workers=WORKERS,
        multiprocess=True,
        env=env,
        server_args=("--max-requests", "25", "--max-requests-jitter", "5"),
    )
    try:
        directory = server.multiproc_dir
        assert directory is not None
        assert requests % BATCH_SIZE == 0
        seeds = range(7, 7 + (requests + 999) // 1000)
        plan = [item for seed in seeds for item in build_plan(wsgi_mix(), seed=seed)][:requests]
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
            if (not exited and len(live) == WORKERS) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        names = sorted(path.name for path in directory.glob("*.db"))
        # Exited workers leave no file: everything they wrote is in the archives or was a
        # live gauge.
        left = sorted(f"{p.prefix}_{p.pid}.db" for p in files if p.pid in exited)
        assert left == []
        assert prefixes_seen == prefixes
        assert {parsed.prefix for parsed in files} <= prefixes
        assert {name for name in names if name.endswith(ARCHIVE_SUFFIX)} == ARCHIVES
        # At most one file per type and gauge mode per live worker, and the archives.
        assert len(names) <= len(prefixes) * len(live) + len(ARCHIVES), names
        figures.add("requests", len(plan))
        figures.add("live workers at the end", len(live))
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


def test_recycled_workers_leave_two_files_per_live_worker_and_exact_totals(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, figures: Figures
) -> None:
    # len(COUNTERS_AND_HISTOGRAMS) == 2: files <= 2 per live worker + the archives.
    recycle(
        tmp_path_factory,
        sqlite_template,
        figures,
        REQUESTS,
        {"DJP_SYSTEM_NO_GAUGES": "1"},
        COUNTERS_AND_HISTOGRAMS,
    )


def test_live_gauges_add_one_file_per_mode_and_leave_with_their_worker(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, figures: Figures
) -> None:
    recycle(
        tmp_path_factory,
        sqlite_template,
        figures,
        min(REQUESTS, REQUESTS_WITH_GAUGES),
        {"DJP_SYSTEM_MIGRATIONS": "1"},
        WITH_GAUGES,
    )
