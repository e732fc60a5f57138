"""`DEMO_ONESHOT=1 make demo` as a newcomer runs it, so the demo can never silently rot."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

# Only in CI's Django 5.2 leg: the demo runs in its own .venv-demo, the same on every Django line.
pytestmark = pytest.mark.django_independent

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_oneshot_shows_every_family_moving(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DEMO_ONESHOT": "1",
        "DEMO_DATABASE": str(tmp_path / "demo.sqlite3"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, f"make demo failed:\n{output}\n{result.stderr}"
    assert re.search(r"Demo running at http://127\.0\.0\.1:\d+/", output)
    assert "These stayed at zero" not in output
    # Every view of the demo shows up with its status.
    for view, status in [
        ("index", "200"),
        ("order", "200"),
        ("product", "200"),
        ("async", "200"),
        ("slow", "200"),
        ("boom", "500"),
        ("<unnamed view>", "404"),
    ]:
        assert re.search(rf"^  {re.escape(view)}\s+{status}\s+[1-9]\d*$", output, re.M), view
    assert re.search(r"^Database: [1-9]\d* queries", output, re.M)
    assert re.search(r"^Cache: [1-9]\d* gets, [1-9]\d* hits, hit ratio \d+%$", output, re.M)
    for operation in ("inserts", "updates", "deletes"):
        assert re.search(rf"^Model order: {operation} [1-9]\d*$", output, re.M)
    assert "Exceptions by type: {'ValueError': 5}" in output
    assert "Template responses: {'demo/index.html': 20}" in output
    assert re.search(r"^Migrations applied: [1-9]\d*$", output, re.M)
    # The health check is excluded from HTTP metrics.
    assert "healthz" not in output
