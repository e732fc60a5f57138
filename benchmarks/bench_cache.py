"""Cost of counting a LocMemCache get and set: plain Django vs ours vs the established package.

    .venv/bin/python benchmarks/bench_cache.py

needs ``bash benchmarks/make-upstream-venv.sh`` once (it makes ``.venv-upstream``).
Each package is measured in a process of its own, started with ``python -I`` from a
directory outside the repository so that neither can import the other, and each
against plain Django's LocMemCache in the same process. The figure that matters is
the *added* time per get (instrumented minus plain); our target is at most 0.35 x
the established package's. ``set`` is timed the same way: the established package
does not count it (its added cost is only its wrapper's, if any), ours counts it as an
operation with its duration. Nothing is asserted: the numbers are printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import timeit
from functools import partial
from pathlib import Path
from typing import TypedDict

REPO = Path(__file__).resolve().parent.parent
VENVS = {"ours": REPO / ".venv", "upstream": REPO / ".venv-upstream"}
CASES = ("hit", "miss")
SET_CASES = ("set",)
GET_TARGET = 0.35


class Measured(TypedDict):
    package: str
    version: str
    plain: dict[str, float]
    instrumented: dict[str, float]


def _best_ns(call: timeit.Timer, number: int, repeat: int) -> float:
    return min(call.repeat(repeat=repeat, number=number)) / number * 1e9


def measure(number: int, repeat: int) -> Measured:
    """Runs inside one virtualenv: plain vs instrumented LocMemCache, in nanoseconds per get."""
    from importlib.metadata import version

    import django
    from django.conf import settings

    settings.configure(CACHES={}, INSTALLED_APPS=[])
    django.setup()
    from django.core.cache.backends.locmem import LocMemCache as PlainLocMemCache

    from django_prometheus.cache.backends.locmem import LocMemCache

    plain = PlainLocMemCache("bench-plain", {})
    instrumented = LocMemCache("bench-instrumented", {})
    for cache in (plain, instrumented):
        cache.set("present", "value")
        cache.get("present")  # first get binds metrics and warms caches
        cache.get("absent")
    result = Measured(
        package="django-prometheus",
        version=version("django-prometheus"),
        plain={},
        instrumented={},
    )
    # Alternate plain and instrumented so that drift on a busy machine hits both alike.
    for cache in (plain, instrumented):
        cache.set("written", 1)  # binds the set operation's series
    calls = {
        "hit": lambda cache: partial(cache.get, "present"),
        "miss": lambda cache: partial(cache.get, "absent"),
        "set": lambda cache: partial(cache.set, "written", "value"),
    }
    for case in (*CASES, *SET_CASES):
        plain_timer = timeit.Timer(calls[case](plain))
        instrumented_timer = timeit.Timer(calls[case](instrumented))
        plain_best: list[float] = []
        instrumented_best: list[float] = []
        for _ in range(repeat):
            plain_best.append(_best_ns(plain_timer, number, 1))
            instrumented_best.append(_best_ns(instrumented_timer, number, 1))
        result["plain"][case] = min(plain_best)
        result["instrumented"][case] = min(instrumented_best)
    return result


def run_worker(python: Path, number: int, repeat: int) -> Measured:
    with tempfile.TemporaryDirectory() as outside:
        done = subprocess.run(
            [
                *(str(python), "-I", str(Path(__file__).resolve()), "--worker"),
                *("--number", str(number), "--repeat", str(repeat)),
            ],
            cwd=outside,
            capture_output=True,
            text=True,
            check=True,
        )
    measured: Measured = json.loads(done.stdout)
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--number", type=int, default=20_000, help="gets per timing")
    parser.add_argument("--repeat", type=int, default=50, help="timings per case (best kept)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.number, args.repeat)))
        return 0

    missing = [str(venv) for venv in VENVS.values() if not (venv / "bin" / "python").exists()]
    if missing:
        print(f"missing virtualenv(s): {', '.join(missing)}; run `make setup` and")
        print("`bash benchmarks/make-upstream-venv.sh` first")
        return 1
    results = {
        name: run_worker(venv / "bin" / "python", args.number, args.repeat)
        for name, venv in VENVS.items()
    }
    added = {
        name: {case: r["instrumented"][case] - r["plain"][case] for case in (*CASES, *SET_CASES)}
        for name, r in results.items()
    }
    print(f"LocMemCache get and set, best of {args.repeat} x {args.number:,} calls, ns per call")
    print(f"{'':<14}{'plain':>9}{'counted':>9}{'added':>9}   package")
    for name, r in results.items():
        for case in (*CASES, *SET_CASES):
            print(
                f"{name + ' ' + case:<14}{r['plain'][case]:>9.0f}{r['instrumented'][case]:>9.0f}"
                f"{added[name][case]:>9.0f}   django-prometheus {r['version']}"
            )
    for case in CASES:
        ratio = added["ours"][case] / added["upstream"][case]
        verdict = "met" if ratio <= GET_TARGET else "NOT met"
        print(
            f"get {case}: our added cost is {ratio:.2f} x the established package's"
            f" (target <= {GET_TARGET:.2f}: {verdict})"
        )
    set_added, set_plain = added["ours"]["set"], results["ours"]["plain"]["set"]
    print(
        f"set: ours adds {set_added:.0f} ns to plain Django's {set_plain:.0f} ns"
        f" ({set_added / set_plain:.0%}); the established package does not count set"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
