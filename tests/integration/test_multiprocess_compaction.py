"""Compaction of exited workers' multiprocess files, with real prometheus_client files."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from django_prometheus import gunicorn as hooks
from django_prometheus import multiprocess_compaction as compaction
from django_prometheus.config import MULTIPROC_DIR_ENV, reset_config
from django_prometheus.exposition.merge import render_multiprocess
from django_prometheus.multiprocess import multiprocess_registry
from django_prometheus.multiprocess_compaction import compact_dead, compact_pids

REPO = Path(__file__).resolve().parents[2]

# One "worker": records its share with labels; argv[2], when given, is the pid it claims.
WORKER = """
import sys
from prometheus_client import values
if len(sys.argv) > 2 and sys.argv[2].isdigit():
    values.ValueClass = values.MultiProcessValue(lambda: int(sys.argv[2]))
import os
from prometheus_client import Counter, Gauge, Histogram, Summary
share = int(sys.argv[1])
requests = Counter("djp_c_requests", "Requests.", ["view", "method"])
requests.labels("home", "GET").inc(share)
requests.labels("about", "POST").inc(2 * share)
seconds = Histogram("djp_c_seconds", "Durations.", ["view"], buckets=(0.5, 1.0, float("inf")))
for view in ("home", "about"):
    seconds.labels(view).observe(share * 0.25)
Summary("djp_c_bytes", "Sizes.").observe(share * 8)
for mode in ("sum", "min", "max", "mostrecent", "all", "livesum", "liveall"):
    Gauge(f"djp_c_{mode}", "A gauge.", multiprocess_mode=mode).set(share)
print(os.getpid())
if "--wait" in sys.argv:
    sys.stdout.flush()
    sys.stdin.read()
"""


def start_worker(directory: Path, share: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(share), *extra],
        env={**os.environ, MULTIPROC_DIR_ENV: str(directory), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_workers(
    directory: Path, shares: list[int], *extra: str, one_after_another: bool = False
) -> list[int]:
    """Run a worker per share; ``one_after_another`` when the order of their writes matters
    (``mostrecent`` gauges), else side by side."""
    pids = []
    workers: Iterator[subprocess.Popen[bytes]]
    if one_after_another:
        workers = (start_worker(directory, share, *extra) for share in shares)
    else:
        workers = iter([start_worker(directory, share, *extra) for share in shares])
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err.decode()
        pids.append(int(out))
    return pids


Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(body: bytes) -> Series:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def scrape(directory: Path) -> Series:
    """What our scrape serves."""
    return parse(generate_latest(multiprocess_registry(str(directory))))


def stock_scrape(directory: Path) -> Series:
    """What prometheus_client's own collector reads (every *.db file)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return parse(generate_latest(registry))


def without(series: Series, *names: str) -> Series:
    return {key: value for key, value in series.items() if not key[0].startswith(names)}


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if not path.name.startswith("."))


ARCHIVES = [
    "counter_archive.db",
    "gauge_max_archive.db",
    "gauge_min_archive.db",
    "gauge_mostrecent_archive.db",
    "gauge_sum_archive.db",
    "histogram_archive.db",
    "summary_archive.db",
]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def test_totals_are_exact_after_compaction(directory: Path) -> None:
    pids = run_workers(directory, [1, 2, 3])
    before = scrape(directory)
    assert before == stock_scrape(directory)
    assert before[("djp_c_requests_total", (("method", "POST"), ("view", "about")))] == 12.0
    assert before[("djp_c_seconds_bucket", (("le", "0.5"), ("view", "home")))] == 2.0
    for pid in pids:
        compact_dead(pid, str(directory))
    after = scrape(directory)
    # The live gauges of the exited workers are gone; every other series is unchanged.
    assert after == without(before, "djp_c_livesum", "djp_c_liveall")
    assert files(directory) == sorted(ARCHIVES + [f"gauge_all_{pid}.db" for pid in pids])
    # prometheus_client's own collector reads the archives like any worker's files.
    assert stock_scrape(directory) == after


def test_gauges_follow_their_mode(directory: Path) -> None:
    first, second, third = run_workers(directory, [2, 5, 3], one_after_another=True)
    compact_pids([first, second], str(directory))
    after = scrape(directory)
    gauges = {
        name: value
        for (name, labels), value in after.items()
        if name.startswith("djp_c_") and name[6:] in {"sum", "min", "max", "mostrecent"}
    }
    # Folded archives and the live third worker merge by the gauge's rule.
    assert gauges == {
        "djp_c_sum": 10.0,
        "djp_c_min": 2.0,
        "djp_c_max": 5.0,
        "djp_c_mostrecent": 3.0,
    }
    assert {labels: value for (name, labels), value in after.items() if name == "djp_c_all"} == {
        (("pid", str(first)),): 2.0,
        (("pid", str(second)),): 5.0,
        (("pid", str(third)),): 3.0,
    }
    assert [value for (name, _), value in after.items() if name == "djp_c_livesum"] == [3.0]


def test_many_dead_pids_in_rounds(directory: Path) -> None:
    for _ in range(3):
        compact_pids(run_workers(directory, [1, 2, 3, 4]), str(directory))
    after = scrape(directory)
    assert after[("djp_c_requests_total", (("method", "GET"), ("view", "home")))] == 30.0
    assert after[("djp_c_seconds_count", (("view", "about"),))] == 12.0
    assert after[("djp_c_seconds_sum", (("view", "about"),))] == 7.5
    assert after[("djp_c_bytes_sum", ())] == 240.0
    assert len(files(directory)) == len(ARCHIVES) + 12  # the 'all' gauges keep their pid


def test_a_pid_reused_after_compaction_counts_as_a_new_process(directory: Path) -> None:
    (pid,) = run_workers(directory, [1], "424242")
    assert pid != 424242
    compact_dead(424242, str(directory))
    assert not (directory / "counter_424242.db").exists()
    run_workers(directory, [10], "424242")
    key = ("djp_c_requests_total", (("method", "GET"), ("view", "home")))
    assert scrape(directory)[key] == 11.0
    compact_dead(424242, str(directory))
    assert scrape(directory)[key] == 11.0
    assert not (directory / "counter_424242.db").exists()


def test_only_the_given_pids_are_compacted(directory: Path) -> None:
    first, second = run_workers(directory, [1, 2])
    compact_dead(first, str(directory))
    assert (directory / f"counter_{second}.db").exists()
    assert not (directory / f"counter_{first}.db").exists()


class SimulatedCrashError(Exception):
    """Stands for a SIGKILL at one step of a compaction (tests/system kills for real)."""


def crash_at(monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[[str], bool]) -> None:
    """Make ``os.<name>`` raise :class:`SimulatedCrashError` on the first path for which
    ``when`` holds: the directory is left exactly as a kill before that step leaves it."""
    original = getattr(os, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        if when(str(args[-1] if name == "replace" else args[0])):
            raise SimulatedCrashError(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(os, name, step)


def moved_aside(directory: Path) -> list[str]:
    staging = directory / compaction.STAGING_NAME
    return sorted(path.name for path in staging.iterdir()) if staging.exists() else []


def assert_fast_scrape_agrees(directory: Path) -> None:
    registry = multiprocess_registry(str(directory))
    assert render_multiprocess(registry, om=False) == generate_latest(registry)


@pytest.mark.parametrize(
    ("step", "when"),
    [
        # after the counter archive's rename, before the folded counter files are removed
        ("unlink", lambda path: os.path.basename(path).startswith("counter_")),
        # after every file was moved aside, before the first archive is renamed in
        ("replace", lambda path: path.endswith(compaction.ARCHIVE_SUFFIX)),
        # after the first file was moved aside
        ("replace", lambda path: compaction.STAGING_NAME in path and "histogram" in path),
    ],
    ids=["before-removals", "before-archive", "while-moving"],
)
def test_a_crash_then_a_reused_pid_counts_every_value_once(
    directory: Path, monkeypatch: pytest.MonkeyPatch, step: str, when: Callable[[str], bool]
) -> None:
    (first,) = run_workers(directory, [1], "424242")
    assert first != 424242
    other = run_workers(directory, [2])
    before = without(scrape(directory), "djp_c_livesum", "djp_c_liveall")
    crash_at(monkeypatch, step, when)
    with pytest.raises(SimulatedCrashError):
        compact_pids([424242, *other], str(directory))
    monkeypatch.undo()
    assert without(scrape(directory), "djp_c_live") == without(before, "djp_c_live")
    assert_fast_scrape_agrees(directory)
    # A new process gets the folded worker's pid before any other compaction: it must
    # start a file of its own, not count on in the one already folded.
    run_workers(directory, [10], "424242")
    home = ("djp_c_requests_total", (("method", "GET"), ("view", "home")))
    assert scrape(directory)[home] == 1 + 2 + 10
    assert_fast_scrape_agrees(directory)
    # The next compaction finishes the interrupted one; totals stay exact.
    report = compact_pids([424242], str(directory))
    assert report.finished
    assert moved_aside(directory) == []
    after = scrape(directory)
    assert after[home] == 13
    bucket = ("djp_c_seconds_bucket", (("le", "0.5"), ("view", "home")))
    assert after[bucket] == 2  # 0.25 and 0.5 of the 0.25, 0.5 and 2.5 observed
    assert after[("djp_c_seconds_count", (("view", "home"),))] == 3
    assert_fast_scrape_agrees(directory)


def test_moved_aside_files_are_folded_by_the_command(multiproc_env: Path) -> None:
    directory = multiproc_env
    run_workers(directory, [1, 2])
    pids = sorted(compaction.pids_in(str(directory)))
    staging = directory / compaction.STAGING_NAME
    staging.mkdir()
    for pid in pids:
        os.replace(directory / f"counter_{pid}.db", staging / f"counter_{pid}.db")
    before = scrape(directory)
    assert before[("djp_c_requests_total", (("method", "GET"), ("view", "home")))] == 3
    out = io.StringIO()
    call_command("prometheus_compact", stdout=out)
    assert "finished 2 interrupted" in out.getvalue()
    assert moved_aside(directory) == []
    assert without(scrape(directory), "djp_c_live") == without(before, "djp_c_live")


def test_a_left_behind_temporary_file_is_ignored(directory: Path) -> None:
    (pid,) = run_workers(directory, [3])
    before = scrape(directory)
    # A crash before the rename: a complete temporary copy that never became the archive.
    temp = directory / ".counter_archive.db.x1y2.tmp"
    shutil.copy(directory / f"counter_{pid}.db", temp)
    assert scrape(directory) == before
    compact_dead(pid, str(directory))
    assert not temp.exists()
    assert scrape(directory) == without(before, "djp_c_livesum", "djp_c_liveall")


def test_a_scrape_waits_for_a_compaction(directory: Path) -> None:
    import fcntl

    run_workers(directory, [1])
    with open(directory / compaction.LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        reader = subprocess.run(
            [
                sys.executable,
                "-c",
                (
                    "import fcntl, sys; f = open(sys.argv[1], 'rb');"
                    "fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)"
                ),
                str(directory / compaction.LOCK_NAME),
            ],
            capture_output=True,
            check=False,
        )
        assert b"BlockingIOError" in reader.stderr


def test_child_exit_compacts_the_worker(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(directory))
    first, second = run_workers(directory, [1, 2])
    before = scrape(directory)

    class Worker:
        pid = first

    hooks.child_exit(object(), Worker())
    assert not any(name.endswith(f"_{first}.db") and "all" not in name for name in files(directory))
    assert f"counter_{second}.db" in files(directory)
    after = scrape(directory)
    live = ("djp_c_livesum", ())
    assert after[live] == 2.0
    assert without(after, "djp_c_live", "djp_c_all") == without(before, "djp_c_live", "djp_c_all")


@pytest.fixture
def multiproc_env(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(directory))
    reset_config()
    yield directory
    reset_config()


def test_the_command_compacts_exited_processes_only(multiproc_env: Path) -> None:
    directory = multiproc_env
    dead = run_workers(directory, [1, 2])
    alive = start_worker(directory, 4, "--wait")
    try:
        assert alive.stdout is not None
        live_pid = int(alive.stdout.readline())
        before = scrape(directory)
        out = io.StringIO()
        call_command("prometheus_compact", stdout=out)
        text = out.getvalue()
        listed = ", ".join(str(pid) for pid in sorted(dead))
        assert text.startswith(f"Compacted exited pids {listed} in {directory}: folded 14 files")
        assert f"  folded counter_{dead[0]}.db\n" in text
        assert f"  removed gauge_livesum_{dead[1]}.db\n" in text
        assert f"counter_{live_pid}.db" in files(directory)
        assert without(scrape(directory), "djp_c_live") == without(before, "djp_c_live")
        again = io.StringIO()
        call_command("prometheus_compact", stdout=again)
        assert again.getvalue() == f"No files of exited processes in {directory}.\n"
    finally:
        alive.communicate(b"", timeout=30)
