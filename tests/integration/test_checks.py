"""The system checks through Django's check framework, on the test project."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from django_prometheus.checks import (
    AFTER_MIDDLEWARE,
    BEFORE_MIDDLEWARE,
    TAG,
    multiprocess_messages,
)
from django_prometheus.config import PrometheusConfig
from django_prometheus.multiprocess import ensure_multiproc_dir

COMMON = "django.middleware.common.CommonMiddleware"
OUR_ENVIRONMENT = ("PROMETHEUS_MULTIPROC_DIR", "RUN_MAIN", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OUR_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def our_ids() -> list[str]:
    return [str(message.id) for message in run_checks(tags=[TAG])]


def test_the_test_project_passes_every_check() -> None:
    assert our_ids() == []
    call_command("check", tags=[TAG], fail_level="DEBUG", verbosity=0)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"PROMETHEUS_LATENCY_BUCKETS": (2, 1)}, "E001"),
        ({"PROMETHEUS_LATENCY_BUCKET": (1, float("inf"))}, "W001"),
        ({"MIDDLEWARE": [AFTER_MIDDLEWARE, COMMON, BEFORE_MIDDLEWARE]}, "E002"),
        ({"MIDDLEWARE": [BEFORE_MIDDLEWARE, COMMON]}, "W002"),
        ({"MIDDLEWARE": [COMMON, BEFORE_MIDDLEWARE, AFTER_MIDDLEWARE]}, "W003"),
        ({"MIDDLEWARE": [BEFORE_MIDDLEWARE, AFTER_MIDDLEWARE, COMMON]}, "W004"),
        ({"MIDDLEWARE": [BEFORE_MIDDLEWARE, BEFORE_MIDDLEWARE, AFTER_MIDDLEWARE]}, "W005"),
    ],
)
def test_each_settings_check_fires_on_its_mistake(
    overrides: dict[str, object], expected: str
) -> None:
    with override_settings(**overrides):
        assert our_ids() == [f"django_prometheus.{expected}"]
    assert our_ids() == []


def test_the_middleware_without_the_app_is_reported() -> None:
    apps_without_us = [app for app in settings.INSTALLED_APPS if app != "django_prometheus"]
    with override_settings(INSTALLED_APPS=apps_without_us):
        assert our_ids() == ["django_prometheus.W006"]


def test_a_silenced_check_stays_silent() -> None:
    with override_settings(
        MIDDLEWARE=[COMMON, BEFORE_MIDDLEWARE, AFTER_MIDDLEWARE],
        SILENCED_SYSTEM_CHECKS=["django_prometheus.W003"],
    ):
        call_command("check", tags=[TAG], fail_level="WARNING", verbosity=0)


def test_the_port_exporter_under_the_autoreloader_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with override_settings(PROMETHEUS_METRICS_EXPORT_PORT=9100):
        assert our_ids() == []
        monkeypatch.setenv("RUN_MAIN", "true")
        assert our_ids() == ["django_prometheus.W007"]


def test_a_missing_multiprocess_directory_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert our_ids() == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    assert our_ids() == ["django_prometheus.E003"]


def test_several_workers_without_multiprocess_mode_are_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert our_ids() == ["django_prometheus.W008"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert our_ids() == []


@pytest.fixture
def read_only_directory() -> Iterator[str]:
    """A directory that exists and that the checking process may not write."""
    directory = tempfile.mkdtemp(prefix="djp-readonly-", dir="/tmp")
    os.chmod(directory, 0o555)  # noqa: S103 - read-only on purpose
    try:
        yield directory
    finally:
        os.chmod(directory, 0o700)
        shutil.rmtree(directory)


def as_unprivileged_user(directory: str, *, effective_only: bool = False) -> tuple[list[str], str]:
    """The multiprocess check, and what startup says, in a forked child without root's rights.

    Root may write anywhere, so only another user sees the directory as read-only.
    ``effective_only`` drops the effective ids alone, as a server does that keeps root
    as its real uid (``os.access`` asks about the real one). The child imports nothing
    and takes no lock (all it runs is loaded and the config is built before the fork),
    so forking this threaded process is safe. Returns the check ids and startup's error
    ("" when it starts).
    """
    config = PrometheusConfig(multiproc_dir=directory)
    reading, writing = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, see above
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(reading)
            if effective_only:
                os.setegid(65534)
                os.seteuid(65534)
            else:
                os.setgid(65534)
                os.setuid(65534)
            found = [str(message.id) for message in multiprocess_messages(config, {})]
            try:
                ensure_multiproc_dir(directory)
                refused = ""
            except ImproperlyConfigured as error:
                refused = str(error)
            os.write(writing, (",".join(found) + "\n" + refused).encode())
        finally:
            os._exit(0)
    os.close(writing)
    ready, _, _ = select.select([reading], [], [], 30)
    if not ready:
        os.kill(child, signal.SIGKILL)
    output = os.read(reading, 65536).decode() if ready else ""
    os.close(reading)
    os.waitpid(child, 0)
    assert ready, "the unprivileged child did not answer"
    ids, _, refused = output.partition("\n")
    return (ids.split(",") if ids else []), refused


def test_a_multiprocess_directory_that_is_not_writable_is_reported(
    monkeypatch: pytest.MonkeyPatch, read_only_directory: str
) -> None:
    if os.geteuid() == 0:
        ids, refused = as_unprivileged_user(read_only_directory)
        assert ids == ["django_prometheus.E004"]
        assert refused.startswith(
            f"PROMETHEUS_MULTIPROC_DIR={read_only_directory!r} is not writable by this "
            "process (uid 65534): Permission denied."
        )
    else:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", read_only_directory)
        assert our_ids() == ["django_prometheus.E004"]


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping only the effective uid needs root")
def test_the_check_and_startup_agree_when_only_the_effective_uid_was_dropped(
    read_only_directory: str,
) -> None:
    # os.access() would ask about the real uid (root) and pass this directory.
    ids, refused = as_unprivileged_user(read_only_directory, effective_only=True)
    assert ids == ["django_prometheus.E004"]
    assert "is not writable by this process (uid 65534)" in refused
    writable = tempfile.mkdtemp(prefix="djp-writable-", dir="/tmp")
    os.chmod(writable, 0o777)  # noqa: S103 - writable by the unprivileged child on purpose
    try:
        assert as_unprivileged_user(writable, effective_only=True) == ([], "")
    finally:
        shutil.rmtree(writable)


@pytest.mark.parametrize("case", ["usable", "missing", "file"])
def test_the_check_and_startup_agree(case: str, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    if case == "usable":
        directory.mkdir()
    elif case == "file":
        directory.write_text("")
    ids = [
        str(message.id)
        for message in multiprocess_messages(PrometheusConfig(multiproc_dir=str(directory)), {})
    ]
    try:
        ensure_multiproc_dir(str(directory))
        starts = True
    except ImproperlyConfigured:
        starts = False
    assert (ids, starts) == (
        ([], True) if case == "usable" else (["django_prometheus.E003"], False)
    )


def test_w006_fires_in_a_real_project_without_the_app(tmp_path: Path) -> None:
    """Django finds checks only through installed apps; our middleware and backends register
    them when they are loaded (here: the database backend, as any command that queries)."""
    script = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes"],
    MIDDLEWARE=[
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django_prometheus.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from django.db import connection
connection.ensure_connection()
from django.core.management import call_command
call_command("check")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
    )
    assert result.returncode == 0, result.stderr
    assert "(django_prometheus.W006) 'django_prometheus' is not in INSTALLED_APPS" in result.stderr
    assert "MIDDLEWARE 'django_prometheus.middleware.PrometheusBeforeMiddleware'" in result.stderr
