"""``make compat``: the published unit tests of django-prometheus 2.5.0, run against ours.

The 2.5.0 wheel ships its tests (``django_prometheus/tests/``). They are taken out of
the wheel (downloaded once and checked against its sha256 by ``tests/upstream.py``)
into a temporary directory at run time; nothing of them is kept in this repository.
They run twice, as the established package runs them: without Django settings, and
with settings (its PostGIS tests need a configured project). Each expected failure
names one deliberate difference (README, "Differences from 2.5.0") and is strict: the
run fails on any other failure, on an expected failure that passes, and on a skip in
the run with settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.upstream import UpstreamUnavailableError, wheel_path  # noqa: E402

TESTS_IN_WHEEL: Final = "django_prometheus/tests/"

# node id -> the deliberate difference that makes it fail
EXPECTED_FAILURES: Final = {
    "test_db_wrapper.py::TestExportingCursorWrapper::test_double_wrapping_increases_mro": (
        "ExportingCursorWrapper of an exporting class returns it unchanged; 2.5.0 nests "
        "another layer, which counts every query twice"
    ),
}

# Written next to the extracted tests: marks the expected failures, strictly.
_CONFTEST: Final = """
import pytest

EXPECTED_FAILURES = {expected!r}


def pytest_collection_modifyitems(items):
    for item in items:
        reason = EXPECTED_FAILURES.get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
"""


@dataclass(frozen=True)
class Run:
    title: str
    settings_module: str | None
    may_skip: bool


RUNS: Final = (
    Run("without Django settings", None, may_skip=True),
    Run("with Django settings (tests.testapp.settings)", "tests.testapp.settings", may_skip=False),
)


def _extract(wheel: Path, target: Path) -> list[str]:
    names = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(TESTS_IN_WHEEL) and name.endswith(".py"):
                file_name = name.removeprefix(TESTS_IN_WHEEL)
                if file_name.startswith("test_"):
                    (target / file_name).write_bytes(archive.read(name))
                    names.append(file_name)
    return sorted(names)


def _outcomes(report: Path) -> dict[str, str]:
    outcomes = {}
    # The report is the one our own pytest run just wrote.
    for case in ElementTree.parse(report).getroot().iter("testcase"):  # noqa: S314
        file_name = case.get("classname", "").split(".")[0] + ".py"
        classes = case.get("classname", "").split(".")[1:]
        node = "::".join([file_name, *classes, case.get("name", "")])
        children = {child.tag for child in case}
        if "skipped" in children:
            skipped = next(child for child in case if child.tag == "skipped")
            outcomes[node] = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        elif children & {"failure", "error"}:
            outcomes[node] = "failed"
        else:
            outcomes[node] = "passed"
    return outcomes


def _run(run: Run, wheel: Path) -> list[str]:
    problems = []
    with tempfile.TemporaryDirectory(prefix="djp-compat-") as scratch:
        directory = Path(scratch)
        files = _extract(wheel, directory)
        (directory / "conftest.py").write_text(_CONFTEST.format(expected=EXPECTED_FAILURES))
        (directory / "pytest.ini").write_text(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        )
        env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
        env["PYTHONPATH"] = str(ROOT)
        if run.settings_module is not None:
            env["DJANGO_SETTINGS_MODULE"] = run.settings_module
        report = directory / "report.xml"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "-c", str(directory / "pytest.ini"), "--rootdir", str(directory),
            f"--junitxml={report}", "-o", "junit_family=xunit1", "-rfEXs", str(directory),
        ]  # fmt: skip
        print(f"=== 2.5.0's tests {run.title}: {', '.join(files)}", flush=True)
        done = subprocess.run(command, cwd=directory, env=env, check=False)  # noqa: S603
        if not report.is_file():
            return [f"{run.title}: pytest wrote no report (exit status {done.returncode})"]
        outcomes = _outcomes(report)
    for node, outcome in sorted(outcomes.items()):
        expected = "xfailed" if node in EXPECTED_FAILURES else "passed"
        if outcome == expected or (outcome == "skipped" and run.may_skip):
            continue
        problems.append(f"{run.title}: {node} {outcome}, expected {expected}")
    missing = set(EXPECTED_FAILURES) - set(outcomes)
    problems += [f"{run.title}: expected failure {node} did not run" for node in sorted(missing)]
    if done.returncode != 0 and not problems:
        problems.append(f"{run.title}: pytest exited with status {done.returncode}")
    return problems


def main() -> int:
    try:
        wheel = wheel_path()
    except UpstreamUnavailableError as error:
        print(f"compat: {error}", file=sys.stderr)
        return 2
    problems = [problem for run in RUNS for problem in _run(run, wheel)]
    for problem in problems:
        print(f"compat: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"compat: 2.5.0's tests pass, but for {len(EXPECTED_FAILURES)} deliberate difference(s)"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
