"""The established package's unit tests run without Django settings: so must ours.

Importing the package, its utils, exports, testutils and database backends, and
counting queries through ``ExportingCursorWrapper``, needs no configured settings
(the defaults apply). Each case runs in a fresh interpreter without
``DJANGO_SETTINGS_MODULE``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULES = [
    "django_prometheus",
    "django_prometheus.utils",
    "django_prometheus.exports",
    "django_prometheus.testutils",
    "django_prometheus.db.common",
    "django_prometheus.db.backends.postgresql.base",
    "django_prometheus.db.backends.sqlite3.base",
    "django_prometheus.db.backends.mysql.base",
]

_COUNT_QUERIES = """
import logging, sqlite3, sys
logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
from django.conf import settings
from prometheus_client import REGISTRY
from django_prometheus.db.common import ExportingCursorWrapper
assert not settings.configured
cursor_class = ExportingCursorWrapper(sqlite3.Cursor, "default", "sqlite")
connection = sqlite3.connect(":memory:")
cursor = connection.cursor(cursor_class)
cursor.execute("CREATE TABLE t (n INTEGER)")
cursor.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
labels = {"alias": "default", "vendor": "sqlite"}
print(REGISTRY.get_sample_value("django_db_execute_total", labels),
      REGISTRY.get_sample_value("django_db_execute_many_total", labels),
      REGISTRY.get_sample_value("django_db_query_duration_seconds_count", labels))
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("module", MODULES)
def test_imports_without_settings(module: str) -> None:
    done = _run(f"import {module}")
    assert (done.returncode, done.stderr) == (0, "")


def test_exporting_cursor_wrapper_counts_without_settings() -> None:
    done = _run(_COUNT_QUERIES)
    assert done.stderr == ""
    assert done.stdout.split() == ["3.0", "2.0", "2.0"]
