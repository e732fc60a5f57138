"""Cost of rendering one scrape: our renderer vs prometheus_client's encoder, same registry.

    .venv/bin/python benchmarks/bench_scrape.py            # ~26k and ~256k lines
    .venv/bin/python benchmarks/bench_scrape.py --views 410 --repeat 7

The registry holds the HTTP families of ``--views`` views (latency histogram, request
and response counters, body-size histogram, in-progress gauge). For each format (the
text format, and OpenMetrics with the Accept header of Prometheus 3.x and of 2.x) it
times, in one process: prometheus_client's encoder; our first scrape (the line caches
emptied before each timing); our steady state with unchanged values; and our steady
state after every child moved (the moves are not timed). Bodies are checked equal.
Best of ``--repeat`` timings; nothing is asserted, the figures are printed.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from django_prometheus import state
from django_prometheus.exposition import render_metrics

PROMETHEUS_3: Final = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROMETHEUS_2: Final = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
FORMATS: Final = (
    ("text 0.0.4", ""),
    ("OM, Prometheus 3", PROMETHEUS_3),
    ("OM, Prometheus 2", PROMETHEUS_2),
)
METHODS: Final = ("GET", "POST")
STATUSES: Final = ("200", "404")


def build(views: int) -> tuple[CollectorRegistry, Callable[[], None]]:
    """A registry like a site's with ``views`` views, and a function moving every child."""
    registry = CollectorRegistry()
    latency = Histogram(
        "django_http_requests_latency_seconds_by_view_method",
        "Histogram of request processing time labelled by view.",
        ["view", "method"],
        registry=registry,
    )
    requests = Counter(
        "django_http_requests_total_by_view_transport_method",
        "Count of requests by view, transport, method.",
        ["view", "transport", "method"],
        registry=registry,
    )
    responses = Counter(
        "django_http_responses_total_by_status_view_method",
        "Count of responses by status, view, method.",
        ["status", "view", "method"],
        registry=registry,
    )
    body = Histogram(
        "django_http_responses_body_total_bytes",
        "Histogram of responses by body size.",
        ["view"],
        buckets=[2**n for n in range(0, 30, 3)],
        registry=registry,
    )
    in_progress = Gauge(
        "django_http_requests_in_progress", "Requests in progress.", ["view"], registry=registry
    )
    moving: list[tuple[Histogram | Counter | Gauge, float]] = []
    for index in range(views):
        view = f"app.views.view_{index}"
        for method in METHODS:
            moving.append((latency.labels(view, method), 0.042))
            moving.append((requests.labels(view, "https", method), 1))
            moving.extend((responses.labels(status, view, method), 1) for status in STATUSES)
        moving.append((body.labels(view), 1500))
        moving.append((in_progress.labels(view), 1))

    def move() -> None:
        for child, amount in moving:
            if isinstance(child, Histogram):
                child.observe(amount)
            else:
                child.inc(amount)

    move()
    return registry, move


def best_of(
    run: Callable[[], object], repeat: int, before: Callable[[], None] | None = None
) -> float:
    timings = []
    for _ in range(repeat):
        if before is not None:
            before()
        gc.collect()
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def _forget() -> None:
    state.exposition_families.clear()


def _cache_bytes(registry: CollectorRegistry, accept: str) -> int:
    _forget()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    render_metrics(registry, accept=accept)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


def measure(views: int, repeat: int) -> None:
    registry, move = build(views)
    lines = len(choose_encoder("")[0](registry).splitlines())
    print(f"\n{views} views, {lines} lines (text format), best of {repeat}")
    print(
        "| format | prometheus_client ms | ours first ms | first ratio "
        "| ours steady ms | steady ratio | steady, all moved ms | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, accept in FORMATS:
        encoder = choose_encoder(accept)[0]
        assert render_metrics(registry, accept=accept).body == encoder(registry)
        ours = partial(render_metrics, registry, accept=accept)
        theirs = best_of(partial(encoder, registry), repeat)
        first = best_of(ours, repeat, _forget)
        ours()
        steady = best_of(ours, repeat)
        moved = best_of(ours, repeat, move)
        assert render_metrics(registry, accept=accept).body == encoder(registry)
        print(
            f"| {label} | {theirs * 1e3:.1f} | {first * 1e3:.1f} | {first / theirs:.2f} "
            f"| {steady * 1e3:.1f} | {steady / theirs:.3f} "
            f"| {moved * 1e3:.1f} | {moved / theirs:.2f} |"
        )
    cache = _cache_bytes(registry, PROMETHEUS_3)
    print(
        f"line caches after one scrape: {cache / 2**20:.1f} MiB, "
        f"{cache / lines * 1e5 / 2**20:.1f} MiB per 100k lines"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--views", type=int, nargs="*", default=[410, 4100])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    for views in arguments.views:
        measure(views, arguments.repeat)


if __name__ == "__main__":
    main()
