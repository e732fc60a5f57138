"""A/B of two checkouts of this package: the WSGI cost our middlewares add per request.

Both sides run on the same interpreter (``.venv``'s by default) with nothing installed:
each worker puts its checkout first on ``sys.path`` and checks that it imported
``django_prometheus`` from there. The project and the request are bench_http.py's.

Timing (the default): the checkouts alternate, A B A B ..., each worker in a fresh
interpreter interleaving rounds of (a) no middleware and (b) the two middlewares;
a worker's figure is median(b) - median(a). The minimum over a side's workers is the
least disturbed one, and the growth is min(B) / min(A) - 1.

``--instructions``: the same requests under ``valgrind --tool=callgrind``, instructions
per request added by the middlewares, deterministic whatever the machine's load. A
count is the difference of two runs of different lengths (so the startup cancels out),
minus the same difference without middlewares.

    git worktree add /tmp/base <commit>
    .venv/bin/python benchmarks/bench_http_ab.py /tmp/base . [--alternations 5]
    .venv/bin/python benchmarks/bench_http_ab.py /tmp/base . --instructions
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
INSTRUMENTED: Final = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
WARM_UP: Final = 300


# --- a worker: one checkout, one fresh interpreter -----------------------------------


def _import_from(source: Path) -> str:
    sys.path.insert(0, str(source))
    import django_prometheus

    where = Path(django_prometheus.__file__).resolve().parent
    if where != source / "django_prometheus":
        raise SystemExit(f"imported django_prometheus from {where}, not from {source}")
    return str(where)


def _timing_worker(source: Path, rounds: int, requests: int) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    import bench_http

    where = _import_from(source)
    bench_http._configure()
    variants = {"none": [], "instrumented": INSTRUMENTED}
    for middleware in variants.values():
        bench_http._time_wsgi(middleware, WARM_UP)
    times: dict[str, list[int]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, middleware in variants.items():
            times[name].extend(bench_http._time_wsgi(middleware, requests))
    added = (statistics.median(times["instrumented"]) - statistics.median(times["none"])) / 1000
    return {"added_us": added, "package": where}


def _counting_worker(source: Path | None, requests: int) -> None:
    """Requests for callgrind to count: the two middlewares if a checkout is given."""
    sys.path.insert(0, str(HERE))
    import bench_http

    if source is not None:
        _import_from(source)
    bench_http._configure()
    middleware = [] if source is None else INSTRUMENTED
    bench_http._time_wsgi(middleware, WARM_UP)
    bench_http._time_wsgi(middleware, requests)


# --- the orchestrating run ------------------------------------------------------------


def _worker_command(python: Path, *arguments: str) -> list[str]:
    return [str(python), str(Path(__file__).resolve()), "--worker", *arguments]


def _run(command: list[str]) -> str:
    # A temporary cwd: nothing but the named checkout can provide django_prometheus.
    with tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        env.pop("PYTHONPATH", None)
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def _time(args: argparse.Namespace) -> None:
    added: dict[str, list[float]] = {"A": [], "B": []}
    for _ in range(args.alternations):
        for side, source in (("A", args.a), ("B", args.b)):
            command = _worker_command(
                args.python, "--source", str(source), "--rounds", str(args.rounds)
            )
            command += ["--requests", str(args.requests)]
            result = json.loads(_run(command).splitlines()[-1])
            added[side].append(result["added_us"])
            print(f"{side} {result['package']}: {result['added_us']:.2f} µs added", flush=True)
    print(f"{args.rounds} rounds x {args.requests} WSGI requests per worker, median per request")
    for side, source in (("A", args.a), ("B", args.b)):
        figures = ", ".join(f"{value:.2f}" for value in added[side])
        print(f"{side} ({source}): min {min(added[side]):.2f} µs; all: {figures}")
    print(f"growth B over A (min to min): {min(added['B']) / min(added['A']) - 1:+.1%}")


def _instructions(python: Path, source: Path | None, requests: int) -> int:
    with tempfile.TemporaryDirectory() as out:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out"]
        command += _worker_command(python, "--count", "--requests", str(requests))
        if source is not None:
            command += ["--source", str(source)]
        output = _run(command)
    found = re.search(r"Collected : (\d+)", output)
    if found is None:
        raise SystemExit(f"no instruction count in callgrind's output:\n{output}")
    return int(found.group(1))


def _per_request(python: Path, source: Path | None, short: int, long: int) -> float:
    difference = _instructions(python, source, long) - _instructions(python, source, short)
    return difference / (long - short)


def _count(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing (apt-get install valgrind)")
    short, long = args.requests, 2 * args.requests
    floor = _per_request(args.python, None, short, long)
    print(f"no middleware: {floor:,.0f} instructions per request")
    counts = {}
    for side, source in (("A", args.a), ("B", args.b)):
        counts[side] = _per_request(args.python, source, short, long) - floor
        print(f"{side} ({source}): {counts[side]:,.0f} instructions per request added")
    print(f"growth B over A: {counts['B'] / counts['A'] - 1:+.1%}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("a", type=Path, nargs="?", help="checkout A (the reference)")
    parser.add_argument("b", type=Path, nargs="?", help="checkout B (compared with A)")
    parser.add_argument("--alternations", type=int, default=5, help="workers per checkout")
    parser.add_argument("--rounds", type=int, default=14, help="rounds per worker")
    parser.add_argument("--requests", type=int, default=1500, help="requests per round/run")
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--python", type=Path, default=ROOT / ".venv/bin/python")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    source = None if args.source is None else args.source.resolve()
    if args.worker and args.count:
        _counting_worker(source, args.requests)
        return
    if args.worker:
        if source is None:
            parser.error("--worker needs --source")
        print(json.dumps(_timing_worker(source, args.rounds, args.requests)))
        return
    if args.a is None or args.b is None:
        parser.error("give two checkouts, A and B")
    args.a, args.b = args.a.resolve(), args.b.resolve()
    if args.instructions:
        if args.requests == parser.get_default("requests"):
            args.requests = 1000
        _count(args)
    else:
        _time(args)


if __name__ == "__main__":
    main()
