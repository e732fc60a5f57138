"""Multiprocess mode with real processes: aggregation, the gunicorn hooks, the directory checks."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from django_prometheus import gunicorn as hooks
from django_prometheus.config import MULTIPROC_DIR_ENV, reset_config
from django_prometheus.exports import start_port_exporter, stop_port_exporters
from django_prometheus.multiprocess import ensure_multiproc_dir, multiproc_dir_problem

REPO = Path(__file__).resolve().parents[2]

# One "worker": sets Django up in multiprocess mode and records its share.
WORKER = """
import os, sys
import django
django.setup()
from prometheus_client import Counter, Gauge, Histogram
share = int(sys.argv[1])
Counter("djp_mp_requests", "Requests.").inc(share)
Gauge("djp_mp_live", "Live workers.", multiprocess_mode="livesum").set(1)
Histogram("djp_mp_seconds", "Durations.", buckets=(0.15, float("inf"))).observe(share / 10)
print(os.getpid())
"""


@pytest.fixture
def multiproc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "metrics"
    directory.mkdir()
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(directory))
    reset_config()
    yield directory
    stop_port_exporters()
    reset_config()


def run_workers(directory: Path, shares: list[int]) -> list[int]:
    env = {
        **os.environ,
        MULTIPROC_DIR_ENV: str(directory),
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings",
        "PYTHONPATH": str(REPO),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(share)],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for share in shares
    ]
    pids = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err.decode()
        # ready() found the directory usable and prometheus_client in multiprocess mode.
        assert err == b""
        pids.append(int(out))
    return pids


def samples(body: bytes) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name.startswith("djp_mp_") and not sample.labels
    } | {
        f"{sample.name}{{le={sample.labels['le']}}}": sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "djp_mp_seconds_bucket"
    }


@pytest.fixture
def export_urls(settings: Settings) -> None:
    settings.ROOT_URLCONF = "tests.testapp.urls_export"
    settings.MIDDLEWARE = []


@pytest.mark.usefixtures("export_urls")
def test_view_aggregates_separate_processes(multiproc_dir: Path, client: Client) -> None:
    pids = run_workers(multiproc_dir, [1, 2, 3])
    assert len(set(pids)) == 3
    response = client.get("/metrics")
    assert response.status_code == 200
    assert samples(response.content) == {
        "djp_mp_requests_total": 6.0,
        "djp_mp_live": 3.0,
        "djp_mp_seconds_count": 3.0,
        "djp_mp_seconds_sum": pytest.approx(0.6),
        "djp_mp_seconds_bucket{le=0.15}": 1.0,
        "djp_mp_seconds_bucket{le=+Inf}": 3.0,
    }
    # This process's own (in-memory) metrics are not files: the aggregate has none of them.
    assert b"python_gc_objects_collected_total" not in response.content

    filtered = client.get("/metrics", {"name[]": ["djp_mp_requests_total", "djp_mp_live"]})
    lines = filtered.content.decode().splitlines()
    # Help texts differ between prometheus_client versions; the rest is exact.
    assert sorted(line for line in lines if not line.startswith("# HELP")) == [
        "# TYPE djp_mp_live gauge",
        "# TYPE djp_mp_requests_total counter",
        "djp_mp_live 3.0",
        "djp_mp_requests_total 6.0",
    ]
    assert len(lines) == 6


def test_port_exporter_serves_the_aggregate(
    multiproc_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["/usr/bin/gunicorn", "project.wsgi"])
    run_workers(multiproc_dir, [4, 5])
    exporter = start_port_exporter(0, "127.0.0.1")
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read()
    assert samples(body)["djp_mp_requests_total"] == 9.0
    assert samples(body)["djp_mp_live"] == 2.0


@pytest.mark.usefixtures("export_urls")
def test_gunicorn_hooks_forget_dead_workers_and_stale_files(
    multiproc_dir: Path, client: Client
) -> None:
    first, second = run_workers(multiproc_dir, [1, 2])
    live = multiproc_dir / f"gauge_livesum_{first}.db"
    assert live.exists()

    class Worker:
        pid = first

    hooks.child_exit(object(), Worker())
    assert not live.exists()
    assert (multiproc_dir / f"gauge_livesum_{second}.db").exists()
    # Its counter and histogram were folded into the archives.
    assert not (multiproc_dir / f"counter_{first}.db").exists()
    assert (multiproc_dir / "counter_archive.db").exists()
    after = samples(client.get("/metrics").content)
    # The dead worker's live gauge is gone; what it counted stays counted.
    assert (after["djp_mp_live"], after["djp_mp_requests_total"]) == (1.0, 3.0)

    keep = multiproc_dir / "README"
    keep.write_text("not a metrics file")
    hooks.on_starting(object())
    # The lock file scrapes and compactions share stays: removing it could split the lock.
    assert sorted(path.name for path in multiproc_dir.iterdir()) == [
        ".django-prometheus.lock",
        "README",
    ]
    assert samples(client.get("/metrics").content) == {}


def test_hooks_do_nothing_without_multiprocess_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)
    stray = tmp_path / "counter_1.db"
    stray.write_bytes(b"")

    class Worker:
        pid = 1

    hooks.child_exit(object(), Worker())
    hooks.on_starting(object())
    assert stray.exists()


def gunicorn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_gunicorn_accepts_the_hooks_module() -> None:
    checked = gunicorn(
        "--print-config", "-c", "python:django_prometheus.gunicorn", "tests.testapp.views:ok"
    )
    out, _ = checked.communicate(timeout=60)
    assert checked.returncode == 0, out.decode()
    config: dict[str, str] = {}
    for line in out.decode().splitlines():
        name, equals, value = line.partition("=")
        if equals:
            config[name.strip()] = value.strip()
    assert config["child_exit"] == "<child_exit()>"
    assert config["on_starting"] == "<on_starting()>"


def test_real_gunicorn_marks_a_killed_worker_dead(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = directory / "gauge_livesum_999999.db"
    stale.write_bytes(b"stale")

    def live_pids() -> set[int]:
        return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("gauge_livesum_*.db")}

    def wait_for_two_live(excluding: set[int]) -> set[int]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = live_pids()
            if len(pids) == 2 and not pids & excluding:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"live gauge files: {sorted(directory.iterdir())}")

    master = gunicorn(
        "-c",
        "python:django_prometheus.gunicorn",
        "--workers",
        "2",
        "--bind",
        "127.0.0.1:0",
        "tests.testapp.gunicorn_probe:application",
        env={MULTIPROC_DIR_ENV: str(directory)},
    )
    try:
        # on_starting removed the previous run's file before the workers wrote theirs.
        workers = wait_for_two_live(excluding={999999})
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        # child_exit in the master forgot the victim; its replacement counts itself.
        replaced = wait_for_two_live(excluding={victim, 999999})
        assert replaced - workers != set()
        assert not (directory / f"gauge_livesum_{victim}.db").exists()
    finally:
        os.killpg(master.pid, signal.SIGTERM)
        out, _ = master.communicate(timeout=30)
    assert b"Traceback" not in out, out.decode()


# ------------------------------------------------------------------ the directory at startup


def ready_error(path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(MULTIPROC_DIR_ENV, path)
    reset_config()
    try:
        with pytest.raises(ImproperlyConfigured) as raised:
            apps.get_app_config("django_prometheus").ready()
    finally:
        monkeypatch.delenv(MULTIPROC_DIR_ENV)
        reset_config()
    return str(raised.value)


def expected_error(path: object, problem: str) -> str:
    return (
        f"PROMETHEUS_MULTIPROC_DIR={str(path)!r} {problem}. Multiprocess mode needs an "
        "existing directory that every server process can write, emptied before the server "
        "starts (see django_prometheus.gunicorn.on_starting); or unset the variable."
    )


def test_ready_refuses_a_missing_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope"
    assert ready_error(str(missing), monkeypatch) == expected_error(missing, "does not exist")
    assert not missing.exists()


def test_ready_refuses_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    regular = tmp_path / "file"
    regular.write_text("")
    assert ready_error(str(regular), monkeypatch) == expected_error(regular, "is not a directory")
    # A path through a regular file can never be created, not even by root.
    below = regular / "metrics"
    assert ready_error(str(below), monkeypatch) == expected_error(below, "does not exist")


@pytest.fixture
def world_reachable_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="djp-export-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def problem_as_unprivileged(path: Path, *, locked: Path) -> str:
    """ensure_multiproc_dir's error as seen by a process that may not write ``locked``.

    Root may write anywhere, so as root the check runs in a forked child that has
    dropped to ``nobody``; another user has ``locked`` made read-only and untraversable.
    """
    if os.geteuid() != 0:
        locked.chmod(0o500 if locked == path else 0o000)
        try:
            ensure_multiproc_dir(str(path))
        except ImproperlyConfigured as error:
            return str(error)
        finally:
            locked.chmod(0o755)
        return ""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        message = ""
        try:
            os.close(reader)
            os.setgid(65534)
            os.setuid(65534)
            ensure_multiproc_dir(str(path))
        except ImproperlyConfigured as error:
            message = str(error)
        finally:
            os.write(writer, json.dumps(message).encode())
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = json.loads(pipe.read())
    os.waitpid(child, 0)
    assert isinstance(message, str)
    return message


def unprivileged_uid() -> int:
    return 65534 if os.geteuid() == 0 else os.geteuid()


def test_a_directory_this_process_cannot_write(world_reachable_dir: Path) -> None:
    directory = world_reachable_dir / "metrics"
    directory.mkdir()
    directory.chmod(0o755)
    assert problem_as_unprivileged(directory, locked=directory) == expected_error(
        directory,
        f"is not writable by this process (uid {unprivileged_uid()}): Permission denied",
    )
    # The same directory is fine for a process that may write it; the probe file is gone.
    assert multiproc_dir_problem(str(directory)) is None
    assert list(directory.iterdir()) == []


def test_a_directory_this_process_cannot_reach(world_reachable_dir: Path) -> None:
    parent = world_reachable_dir / "private"
    parent.mkdir(mode=0o700)
    directory = parent / "metrics"
    directory.mkdir()
    assert problem_as_unprivileged(directory, locked=parent) == expected_error(
        directory,
        f"cannot be reached by this process (uid {unprivileged_uid()}): Permission denied",
    )


def test_ready_warns_when_prometheus_client_was_imported_first(
    multiproc_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # This test process imported prometheus_client before the variable was set.
    with caplog.at_level(logging.WARNING, logger="django_prometheus"):
        apps.get_app_config("django_prometheus").ready()
    assert caplog.messages == [
        (
            "PROMETHEUS_MULTIPROC_DIR is set but prometheus_client was imported before it was: "
            "this process's metrics are missing from the aggregated scrapes. Set the variable "
            "in the environment the server starts with."
        )
    ]
