"""Per-request cost of the HTTP middlewares through Django's real WSGI and ASGI handlers.

One run measures, each in fresh interpreters, alternating between the two
virtual environments pass by pass so that a change of machine load hits both:

* ``ours``: (a) no middleware, (b) our two middlewares — in ``.venv``;
* ``upstream``: (a) no middleware, (c) the established package's two middlewares —
  in ``.venv-upstream`` (make it with ``bash benchmarks/make-upstream-venv.sh``),
  run isolated (``python -I``, cwd outside the repository) so our package never
  shadows the established one.

The variants of one interpreter are interleaved round by round, every request is
timed on its own, and the median per request is reported. The overheads
(b - a) and (c - a) use each interpreter's own baseline.

    .venv/bin/python benchmarks/bench_http.py [--passes 3] [--rounds 5] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from io import BytesIO
from pathlib import Path
from time import perf_counter_ns
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
PATH: Final = "/bench/items/42/"
BODY: Final = b'{"id": 42, "name": "an item"}'
Timings = dict[str, list[int]]

MIDDLEWARES: Final = {
    "none": [],
    "instrumented": [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ],
}


# --- the Django project of a worker -------------------------------------------------


def _configure() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",  # noqa: S106 - a throwaway project
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def item(request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse(BODY, content_type="application/json")

    async def item_async(request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse(BODY, content_type="application/json")

    module = sys.modules[__name__]
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("bench/items/<int:pk>/", item, name="item"),
        path("async/bench/items/<int:pk>/", item_async, name="item-async"),
    ]


def _wsgi_environ() -> dict[str, object]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "bench",
        "HTTP_ACCEPT": "application/json",
        "HTTP_USER_AGENT": "bench/1.0",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _time_wsgi(middleware: list[str], requests: int) -> list[int]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    with override_settings(MIDDLEWARE=middleware):
        handler = WSGIHandler()
    statuses: list[str] = []

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        statuses.append(status)

    times: list[int] = []
    for _ in range(requests):
        environ = _wsgi_environ()
        started = perf_counter_ns()
        response = handler(environ, start_response)
        for _chunk in response:
            pass
        response.close()
        times.append(perf_counter_ns() - started)
    if statuses[-1] != "200 OK":
        raise RuntimeError(f"WSGI benchmark request failed: {statuses[-1]}")
    return times


def _asgi_scope() -> dict[str, object]:
    path = "/async" + PATH
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }


async def _time_asgi(middleware: list[str], requests: int) -> list[int]:
    from django.core.handlers.asgi import ASGIHandler
    from django.test.utils import override_settings

    with override_settings(MIDDLEWARE=middleware):
        handler = ASGIHandler()
        handler.load_middleware(is_async=True)
    statuses: list[int] = []

    times: list[int] = []
    for _ in range(requests):
        delivered = False

        async def receive() -> dict[str, object]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected until cancelled
            raise AssertionError("unreachable")

        async def send(message: Mapping[str, object]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(str(message["status"])))

        started = perf_counter_ns()
        await handler(_asgi_scope(), receive, send)
        times.append(perf_counter_ns() - started)
    if statuses[-1] != 200:
        raise RuntimeError(f"ASGI benchmark request failed: {statuses[-1]}")
    return times


def _work(rounds: int, requests: int) -> dict[str, object]:
    """Interleave the variants round by round; return every request's time in ns."""
    _configure()
    import django

    import django_prometheus

    results: dict[str, Timings] = {"wsgi": {}, "asgi": {}}
    loop = asyncio.new_event_loop()
    try:
        for middleware in MIDDLEWARES.values():  # warm-up: imports, caches, children
            _time_wsgi(middleware, 200)
            loop.run_until_complete(_time_asgi(middleware, 200))
        for number in range(rounds):
            # The two variants of a handler run back to back, first one then the other
            # first, so that each round is a pair measured at one machine state.
            order = list(MIDDLEWARES.items())
            if number % 2:
                order.reverse()
            for name, middleware in order:
                results["wsgi"].setdefault(name, []).extend(_time_wsgi(middleware, requests))
            for name, middleware in order:
                asgi = loop.run_until_complete(_time_asgi(middleware, requests))
                results["asgi"].setdefault(name, []).extend(asgi)
    finally:
        loop.close()
    try:
        from importlib.metadata import version

        package = f"django-prometheus {version('django-prometheus')}"
    except ImportError:  # pragma: no cover
        package = "django-prometheus"
    where = Path(django_prometheus.__file__).parent
    return {"timings": results, "package": f"{package} from {where}, Django {django.__version__}"}


# --- the orchestrating run ------------------------------------------------------------


def _run_worker(python: Path, rounds: int, requests: int) -> tuple[dict[str, Timings], str]:
    # -I: neither the script's directory nor the cwd goes on sys.path, and the cwd is
    # outside the repository, so each interpreter imports its own django_prometheus.
    with tempfile.TemporaryDirectory() as cwd:
        command = [str(python), "-I", __file__, "--worker"]
        command += ["--rounds", str(rounds), "--requests", str(requests)]
        done = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr}")
    data = json.loads(done.stdout)
    return data["timings"], data["package"]


def _merge(into: dict[str, Timings], more: dict[str, Timings]) -> None:
    for handler, variants in more.items():
        for variant, times in variants.items():
            into.setdefault(handler, {}).setdefault(variant, []).extend(times)


def _median_us(times: Iterable[int]) -> float:
    return statistics.median(times) / 1000


def _paired_fraction(variants: Timings, requests: int) -> float:
    """What the middlewares add, as a fraction of the no-middleware time of the same round:
    the median over rounds of median(instrumented) / median(none) - 1.

    The two variants of a round ran back to back at one machine speed. This VM
    switches between speeds about 1.5x apart every few seconds, which scales a
    round's two times alike, so the fraction moves much less than pooled medians
    (and differences in µs), which mix speeds in whatever proportion each
    interpreter happened to meet. Both interpreters run the same Django on the same
    Python, so their baselines are the same work and the fractions compare like the
    costs added.
    """
    none, instrumented = variants["none"], variants["instrumented"]
    fractions = [
        statistics.median(instrumented[at : at + requests])
        / statistics.median(none[at : at + requests])
        - 1
        for at in range(0, len(none), requests)
    ]
    return statistics.median(fractions)


def _report(ours: dict[str, Timings], upstream: dict[str, Timings], requests: int) -> list[str]:
    header = (
        "handler  (a) none  (b) ours  (c) upstream  (a') none, upstream venv"
        "  b-a µs  c-a' µs  (b-a)/(c-a')  per round: ours  upstream  ratio"
    )
    lines = [header]
    for handler in ("wsgi", "asgi"):
        base = _median_us(ours[handler]["none"])
        mine = _median_us(ours[handler]["instrumented"])
        base_up = _median_us(upstream[handler]["none"])
        theirs = _median_us(upstream[handler]["instrumented"])
        ours_over, theirs_over = mine - base, theirs - base_up
        ratio = ours_over / theirs_over if theirs_over > 0 else float("nan")
        paired_ours = _paired_fraction(ours[handler], requests)
        paired_theirs = _paired_fraction(upstream[handler], requests)
        paired = paired_ours / paired_theirs if paired_theirs > 0 else float("nan")
        lines.append(
            f"{handler:7}  {base:8.1f}  {mine:8.1f}  {theirs:12.1f}  {base_up:24.1f}"
            f"  {ours_over:6.1f}  {theirs_over:7.1f}  {ratio:12.2f}"
            f"  {paired_ours:15.1%}  {paired_theirs:8.1%}  {paired:5.2f}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--passes", type=int, default=3, help="alternations of the two venvs")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per pass")
    parser.add_argument("--requests", type=int, default=400, help="requests per round and variant")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ours", type=Path, default=ROOT / ".venv/bin/python")
    parser.add_argument("--upstream", type=Path, default=ROOT / ".venv-upstream/bin/python")
    args = parser.parse_args(argv)
    if args.worker:
        json.dump(_work(args.rounds, args.requests), sys.stdout)
        return
    for python in (args.ours, args.upstream):
        if not os.access(python, os.X_OK):
            raise SystemExit(
                f"{python} is missing: run `make setup` and benchmarks/make-upstream-venv.sh"
            )
    ours: dict[str, Timings] = {}
    upstream: dict[str, Timings] = {}
    packages: dict[str, str] = {}
    for number in range(args.passes):
        order = [("ours", args.ours, ours), ("upstream", args.upstream, upstream)]
        for name, python, timings in order if number % 2 == 0 else reversed(order):
            more, packages[name] = _run_worker(python, args.rounds, args.requests)
            _merge(timings, more)
    for name, package in packages.items():
        print(f"{name}: {package}")
    total = args.passes * args.rounds * args.requests
    print(f"median per request, µs, of {total} requests per variant and handler")
    for line in _report(ours, upstream, args.requests):
        print(line)


if __name__ == "__main__":
    main()
