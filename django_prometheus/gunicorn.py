"""gunicorn server hooks for prometheus_client multiprocess mode.

Use the module as (part of) the gunicorn configuration::

    PROMETHEUS_MULTIPROC_DIR=/run/myapp-metrics \\
        gunicorn -c python:django_prometheus.gunicorn myproject.wsgi

or import the hooks into your own configuration file::

    # gunicorn.conf.py
    from django_prometheus.gunicorn import child_exit, on_starting  # noqa: F401

``on_starting`` empties the directory of the previous run's files when the master
starts; ``child_exit`` forgets the live gauges of a worker that exited and folds its
counters, histograms, summaries and ``min``/``max``/``sum``/``mostrecent`` gauges into
the directory's archive files (see ``django_prometheus.multiprocess_compaction``), so a
server recycling workers with ``--max-requests`` keeps a bounded number of files. Both do
nothing when ``PROMETHEUS_MULTIPROC_DIR`` is not set. gunicorn is not imported:
the hooks only read the worker's ``pid``.

Importing this module imports neither Django nor prometheus_client: prometheus_client
picks single- or multiprocess mode once, when it is first imported, so it must not be
imported by the configuration before gunicorn has applied ``raw_env`` (``-e``).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["child_exit", "on_starting"]


class _Worker(Protocol):
    @property
    def pid(self) -> int: ...


def on_starting(server: object) -> None:
    """Master start: remove the sample files an earlier run left in the directory."""
    from django_prometheus.multiprocess import clean_multiproc_dir

    clean_multiproc_dir()


def child_exit(server: object, worker: _Worker) -> None:
    """A worker exited (in the master): drop its ``live*`` gauges from the aggregate and
    fold the rest of its files into the archives."""
    from django_prometheus.multiprocess import compact_dead_worker, mark_dead

    mark_dead(worker.pid)
    compact_dead_worker(worker.pid)
