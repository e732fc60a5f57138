"""Cost of a multiprocess scrape: our merge vs prometheus_client's, same directory.

    .venv/bin/python benchmarks/bench_multiprocess.py                 # 4 and 40 processes
    .venv/bin/python benchmarks/bench_multiprocess.py --processes 4 --views 350

Real prometheus_client processes write the directory (``PROMETHEUS_MULTIPROC_DIR``):
each one the HTTP families of ``--views`` views (latency histogram, request and
response counters, body-size histogram, a ``livesum`` in-progress gauge) and moves
every child, then exits. For each format (the text format, and OpenMetrics with the
Accept headers of Prometheus 3.x and 2.x) it times in one process: prometheus_client
(``MultiProcessCollector`` and its encoder); our first scrape (nothing cached); our
steady state with unchanged files; and our steady state after every value of every
file moved (rewritten in place, as live workers do; the rewriting is not timed). Our
bodies are checked equal to prometheus_client's merge of the same files. Best of
``--repeat`` timings; nothing is asserted, the figures are printed.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Final

# bench_scrape: the in-process scrape benchmark beside this script (same formats, timing).
from bench_scrape import FORMATS, PROMETHEUS_3, best_of
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from django_prometheus import state
from django_prometheus.exposition import render_metrics
from django_prometheus.multiprocess import multiprocess_registry

WORKER: Final = textwrap.dedent(
    """
    import sys
    from prometheus_client import Counter, Gauge, Histogram
    views, seed = int(sys.argv[1]), int(sys.argv[2])
    latency = Histogram(
        "django_http_requests_latency_seconds_by_view_method",
        "Histogram of request processing time labelled by view.", ["view", "method"])
    requests = Counter(
        "django_http_requests_total_by_view_transport_method",
        "Count of requests by view, transport, method.", ["view", "transport", "method"])
    responses = Counter(
        "django_http_responses_total_by_status_view_method",
        "Count of responses by status, view, method.", ["status", "view", "method"])
    body = Histogram(
        "django_http_responses_body_total_bytes", "Histogram of responses by body size.",
        ["view"], buckets=[2**n for n in range(0, 30, 3)])
    in_progress = Gauge(
        "django_http_requests_in_progress", "Requests in progress.", ["view"],
        multiprocess_mode="livesum")
    for index in range(views):
        view = f"app.views.view_{index}"
        for method in ("GET", "POST"):
            latency.labels(view, method).observe(0.042 * seed)
            requests.labels(view, "https", method).inc(seed)
            for status in ("200", "404"):
                responses.labels(status, view, method).inc()
        body.labels(view).observe(1500 + seed)
        in_progress.labels(view).inc()
    """
)


def write_directory(path: Path, processes: int, views: int) -> None:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)}
    running = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(views), str(seed)], env=environment)
        for seed in range(1, processes + 1)
    ]
    for process in running:
        if process.wait() != 0:
            raise SystemExit("a worker failed")


def move_every_value(path: Path) -> None:
    """Rewrite every value of every file in place (what live workers do between scrapes)."""
    for name in sorted(os.listdir(path)):
        if not name.endswith(".db"):
            continue
        table = MmapedDict(str(path / name))  # type: ignore[no-untyped-call]
        rows = list(table.read_all_values())  # type: ignore[no-untyped-call]
        for key, value, timestamp in rows:
            table.write_value(key, value + 1.0, timestamp)  # type: ignore[no-untyped-call]
        table.close()  # type: ignore[no-untyped-call]


def _forget() -> None:
    state.multiprocess_merges.clear()


def _cache_bytes(path: str, accept: str) -> int:
    _forget()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    render_metrics(multiprocess_registry(path), accept=accept)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


def measure(processes: int, views: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-multiprocess-") as directory:
        path = Path(directory)
        write_directory(path, processes, views)
        upstream = CollectorRegistry()
        MultiProcessCollector(upstream, str(path))  # type: ignore[no-untyped-call]
        ours = multiprocess_registry(str(path))
        lines = len(choose_encoder("")[0](ours).splitlines())
        files = len(list(path.glob("*.db")))
        print(
            f"\n{processes} processes ({files} files), {views} views, {lines} lines, "
            f"best of {repeat}"
        )
        print(
            "| format | prometheus_client ms | ours first ms | first ratio "
            "| ours steady ms | steady ratio | steady, all moved ms | ratio |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, accept in FORMATS:
            encoder, _ = choose_encoder(accept)
            expected = encoder(ours)  # prometheus_client's merge of the files we read
            assert render_metrics(ours, accept=accept).body == expected, label
            scrape = partial(render_metrics, ours, accept=accept)
            theirs = best_of(partial(encoder, upstream), repeat)
            first = best_of(scrape, repeat, _forget)
            scrape()
            steady = best_of(scrape, repeat)
            moved = best_of(scrape, repeat, partial(move_every_value, path))
            assert render_metrics(ours, accept=accept).body == encoder(ours), label
            print(
                f"| {label} | {theirs * 1e3:.1f} | {first * 1e3:.1f} | {first / theirs:.3f} "
                f"| {steady * 1e3:.2f} | {steady / theirs:.3f} | {moved * 1e3:.1f} "
                f"| {moved / theirs:.3f} |"
            )
        held = _cache_bytes(str(path), PROMETHEUS_3)
        print(
            f"\ncaches after one OpenMetrics scrape: {held / 2**20:.1f} MiB "
            f"({held / lines * 1e5 / 2**20:.1f} MiB per 100k lines)"
        )
        _forget()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, nargs="+", default=[4, 40])
    parser.add_argument("--views", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    for processes in arguments.processes:
        measure(processes, arguments.views, arguments.repeat)


if __name__ == "__main__":
    main()
