"""gunicorn recycling workers (``--max-requests``) in multiprocess mode: child_exit
compacts every exited worker, totals stay exact and the directory stays small."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from django_prometheus.multiprocess_compaction import ARCHIVE_SUFFIX, parse_name
from tests.system.conftest import Figures
from tests.system.harness import run_calls, start_server
from tests.system.traffic import assert_http_counts, build_plan, wsgi_mix

WORKERS = 4


def test_recycled_workers_are_compacted_and_totals_stay_exact(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, figures: Figures
) -> None:
    server = start_server(
        "gunicorn",
        tmp_path_factory.mktemp("recycling"),
        sqlite_template,
        workers=WORKERS,
        multiprocess=True,
        server_args=("--max-requests", "25", "--max-requests-jitter", "5"),
    )
    try:
        plan = build_plan(wsgi_mix(), seed=7) + build_plan(wsgi_mix(), seed=8)
        result = run_calls(server.port, [item.call for item in plan], 8)
        assert result.errors == []
        assert [answer.status for answer in result.answers] == [item.status for item in plan]
        server.wait_until_all_workers_serve()
        scrape = server.scrape()
        assert server.odd_answers == [], server.log()[-4000:]
        assert_http_counts(scrape, plan, server.scrapes)

        directory = server.multiproc_dir
        assert directory is not None
        # The scrapes above count towards --max-requests too, so a worker may exit just now:
        # the master compacts it once it has reaped it (child_exit). Wait for that, without
        # sending requests that would recycle another worker.
        deadline = time.monotonic() + 15
        while True:
            live = set(server.worker_pids())
            names = sorted(path.name for path in directory.glob("*.db"))
            per_pid = [parsed for name in names if (parsed := parse_name(name)) is not None]
            exited = {parsed.pid for parsed in per_pid} - live
            left = {parsed.prefix for parsed in per_pid if parsed.pid in exited}
            if left <= {"gauge_all"} or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        archives = [name for name in names if name.endswith(ARCHIVE_SUFFIX)]
        # Exited workers leave only their 'all' gauges (labelled with their pid).
        assert left <= {"gauge_all"}
        live_files = [parsed for parsed in per_pid if parsed.pid in live]
        assert len(live_files) <= len({p.prefix for p in live_files}) * len(live)
        assert "counter_archive.db" in archives
        figures.add("requests", len(plan))
        figures.add("exited workers with files left", len(exited))
        figures.add("files at the end", len(names))
        figures.add("archives", len(archives))
    finally:
        server.stop()
