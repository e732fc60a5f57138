"""Instructions a query costs with the instrumented database backends, under callgrind.

Timings on a shared machine move with its load; instruction counts do not. For
each database (SQLite in memory, PostgreSQL when it answers) and each package
(ours in ``.venv``, the established one in ``.venv-upstream``), one worker
process runs under ``valgrind --tool=callgrind`` with two aliases, the plain
Django backend and the instrumented one. After warming both up it runs
``execute("SELECT 1")`` ``--count`` times per alias and pattern (a new cursor
per query; one cursor), and callgrind dumps its counters between the parts
(``--dump-before=getppid``: the worker calls ``os.getppid()`` at each boundary),
so each part's instructions are counted apart. A package *adds* (instrumented -
plain) / count instructions per query; only the client process is counted, not
the PostgreSQL server.

    .venv/bin/python benchmarks/callgrind_db.py [--count 20000] [--markdown]
        [--sqlite-only] [--established-venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
PATTERNS: Final = ("cursor per query", "one cursor")
ALIASES: Final = ("plain", "instrumented")
ENGINES: Final = {
    "sqlite": ("django.db.backends.sqlite3", "django_prometheus.db.backends.sqlite3"),
    "postgresql": ("django.db.backends.postgresql", "django_prometheus.db.backends.postgresql"),
}
# A PostgreSQL query is a round trip: fewer of them keep the run short.
COUNT_DIVISOR: Final = {"sqlite": 1, "postgresql": 10}
WARM_UP: Final = 300


def _database_settings(database: str, engine: str) -> dict[str, str]:
    if database == "sqlite":
        return {"ENGINE": engine, "NAME": ":memory:"}
    return {
        "ENGINE": engine,
        "NAME": "postgres",
        "USER": os.environ.get("DJP_POSTGRES_USER", "postgres"),
        "HOST": os.environ.get("DJP_POSTGRES_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DJP_POSTGRES_PORT", "5432"),
    }


def _worker(database: str, count: int) -> None:
    import django
    from django.conf import settings

    plain, instrumented = ENGINES[database]
    settings.configure(
        DATABASES={
            "default": _database_settings(database, plain),
            "instrumented": _database_settings(database, instrumented),
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()
    from django.db import connections

    wrappers = {"plain": connections["default"], "instrumented": connections["instrumented"]}

    def cursor_per_query(alias: str, queries: int) -> None:
        wrapper = wrappers[alias]
        for _ in range(queries):
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT 1")

    def one_cursor(alias: str, queries: int) -> None:
        with wrappers[alias].cursor() as cursor:
            for _ in range(queries):
                cursor.execute("SELECT 1")

    timers = {"cursor per query": cursor_per_query, "one cursor": one_cursor}
    for alias in ALIASES:
        for timer in timers.values():
            timer(alias, WARM_UP)
    import django_prometheus

    print(json.dumps({"package": str(Path(django_prometheus.__file__).parent)}), flush=True)
    os.getppid()  # callgrind dumps here: everything above is one part
    for pattern in PATTERNS:
        for alias in ALIASES:
            timers[pattern](alias, count)
            os.getppid()  # the end of this part


def _parts(out_file: Path) -> list[int]:
    """Instructions of each part callgrind dumped, in order (``out_file.1``, ``.2``, ...)."""
    totals: dict[int, int] = {}
    for dumped in out_file.parent.glob(out_file.name + ".*"):
        text = dumped.read_text()
        part = re.search(r"^part: (\d+)$", text, re.MULTILINE)
        total = re.search(r"^totals: (\d+)$", text, re.MULTILINE)
        assert part, f"{dumped} has no part line"
        assert total, f"{dumped} has no totals line"
        totals[int(part.group(1))] = int(total.group(1))
    return [totals[part] for part in sorted(totals)]


def _measure(python: Path, database: str, count: int) -> tuple[dict[str, dict[str, float]], str]:
    """Instructions per query of each pattern and alias, and which package was measured."""
    with tempfile.TemporaryDirectory() as workdir:
        out_file = Path(workdir) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=getppid",
            f"--callgrind-out-file={out_file}",
            str(python),
            "-I",  # the established package's venv must not see our source tree
            __file__,
            "--worker",
            database,
            str(count),
        ]
        environment = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            command, cwd=workdir, env=environment, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{python} {database} worker failed:\n{done.stderr[-3000:]}")
        package = json.loads(done.stdout.splitlines()[0])["package"]
        parts = _parts(out_file)
    # Part 1 is the set-up; then one part per pattern and alias, and the exit.
    measured = iter(parts[1:])
    result = {pattern: {alias: next(measured) / count for alias in ALIASES} for pattern in PATTERNS}
    return result, package


def _postgresql_answers() -> bool:
    import socket

    address = (
        os.environ.get("DJP_POSTGRES_HOST", "127.0.0.1"),
        int(os.environ.get("DJP_POSTGRES_PORT", "5432")),
    )
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--count",
        type=int,
        default=20000,
        help="queries per alias and pattern on SQLite (a tenth of it on PostgreSQL)",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--established-venv",
        type=Path,
        default=ROOT / ".venv-upstream",
        help="virtualenv with the established package (default: .venv-upstream)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("DATABASE", "COUNT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        database, count = arguments.worker
        _worker(database, int(count))
        return 0
    databases = ["sqlite"]
    if not arguments.sqlite_only:
        if _postgresql_answers():
            databases.append("postgresql")
        else:
            print("PostgreSQL does not answer: measuring SQLite only", file=sys.stderr)
    pythons = {"ours": ROOT / ".venv/bin/python"}
    if (arguments.established_venv / "bin/python").exists():
        pythons["established"] = arguments.established_venv / "bin/python"
    else:
        print(f"no {arguments.established_venv}: measuring ours only", file=sys.stderr)
    header = ["database", "pattern", "queries", "plain"]
    for package in pythons:
        header += [package, f"{package} adds"]
    if "established" in pythons:
        header.append("ours/established added")
    rows = []
    for database in databases:
        count = arguments.count // COUNT_DIVISOR[database]
        results = {}
        for package, python in pythons.items():
            results[package], where = _measure(python, database, count)
            print(f"{database}/{package}: {where}", file=sys.stderr)
        for pattern in PATTERNS:
            row = [database, pattern, str(count), f"{results['ours'][pattern]['plain']:.0f}"]
            added = {}
            for package in pythons:
                of = results[package][pattern]
                added[package] = of["instrumented"] - of["plain"]
                row += [f"{of['instrumented']:.0f}", f"{added[package]:.0f}"]
            if "established" in pythons:
                row.append(f"{added['ours'] / added['established']:.0%}")
            rows.append(row)
    print("Instructions per query (callgrind Ir); plain: the Django backend in our venv.")
    table = [header, *rows]
    if arguments.markdown:
        lines = ["| " + " | ".join(line) + " |" for line in table]
        lines.insert(1, "|---|---|" + "---:|" * (len(header) - 2))
    else:
        widths = [max(len(line[column]) for line in table) for column in range(len(header))]
        lines = [
            "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
            for line in table
        ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
