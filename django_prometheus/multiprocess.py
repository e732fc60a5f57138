"""prometheus_client multiprocess mode: the directory, the aggregated registry, cleanup.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every process writes its samples to files
in that directory and a scrape merges them all, so a scrape answered by any one
gunicorn/uwsgi worker shows the whole server.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import tempfile
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import mark_process_dead

from django_prometheus import state
from django_prometheus.config import MULTIPROC_DIR_ENV
from django_prometheus.multiprocess_compaction import (
    STAGING_NAME,
    CompactedCollector,
    CompactionReport,
    compact_dead,
    remove_empty_staging,
)

__all__ = [
    "DirProblem",
    "MultiProcessRegistry",
    "clean_multiproc_dir",
    "compact_dead_worker",
    "ensure_multiproc_dir",
    "mark_dead",
    "multiproc_dir_issue",
    "multiproc_dir_problem",
    "multiprocess_registry",
]

logger = logging.getLogger("django_prometheus")


class DirProblem(NamedTuple):
    """Why a multiprocess directory cannot be used: the system checks report ``missing``
    as E003 and anything else as E004; startup refuses both."""

    missing: bool
    text: str


def multiproc_dir_issue(path: str) -> DirProblem | None:
    """What is wrong with ``path`` as the multiprocess directory, or None if it is usable.

    Writability is tried by creating (and removing) a file, which is the only test
    that also holds for root, read-only mounts, ACLs and a process that dropped only
    its effective uid.
    """
    uid = os.geteuid()
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return DirProblem(True, "does not exist")
    except OSError as error:
        return DirProblem(False, f"cannot be reached by this process (uid {uid}): {error.strerror}")
    if not stat.S_ISDIR(mode):
        return DirProblem(True, "is not a directory")
    if not os.access(path, os.R_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        return DirProblem(False, f"cannot be listed by this process (uid {uid})")
    try:
        handle, probe = tempfile.mkstemp(prefix=".django-prometheus-probe-", dir=path)
    except OSError as error:
        return DirProblem(False, f"is not writable by this process (uid {uid}): {error.strerror}")
    os.close(handle)
    os.unlink(probe)
    return None


def multiproc_dir_problem(path: str) -> str | None:
    """:func:`multiproc_dir_issue` as text."""
    issue = multiproc_dir_issue(path)
    return None if issue is None else issue.text


def ensure_multiproc_dir(path: str | None) -> None:
    """Raise ImproperlyConfigured naming ``path`` and the problem when it is not usable."""
    if path is None:
        return
    problem = multiproc_dir_problem(path)
    if problem is not None:
        raise ImproperlyConfigured(
            f"{MULTIPROC_DIR_ENV}={path!r} {problem}. Multiprocess mode needs an existing "
            "directory that every server process can write, emptied before the server "
            "starts (see django_prometheus.gunicorn.on_starting); or unset the variable."
        )


class MultiProcessRegistry(CollectorRegistry):
    """The registry of :func:`multiprocess_registry` (its collector describes no names)."""


def multiprocess_registry(path: str) -> MultiProcessRegistry:
    """A registry whose only collector merges the files of every process in ``path``.

    The collector is prometheus_client's merge of every file a scrape should read (the
    archives of compacted processes, not the files they already contain), under the
    directory's shared lock. It keeps no state between scrapes (it reads the files anew
    on each ``collect``), so one registry per directory is reused.
    """
    registry = state.multiprocess_registries.get(path)
    if registry is None:
        registry = MultiProcessRegistry(auto_describe=False)
        registry.register(CompactedCollector(path))
        state.multiprocess_registries.remember(path, registry)
    return registry


def mark_dead(pid: int, path: str | None = None) -> None:
    """Forget the live gauges (``multiprocess_mode="live…"``) of a process that exited."""
    path = path if path is not None else os.environ.get(MULTIPROC_DIR_ENV)
    if not path:
        return
    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def compact_dead_worker(pid: int, path: str | None = None) -> CompactionReport | None:
    """Fold the files of the exited process ``pid`` into the directory's archives.

    Never raises: a failure is logged and the files stay (a scrape still counts them).
    """
    path = path if path is not None else os.environ.get(MULTIPROC_DIR_ENV)
    if not path:
        return None
    try:
        return compact_dead(pid, path)
    except Exception:
        logger.exception("Could not compact the metric files of process %d in %s", pid, path)
        return None


def clean_multiproc_dir(path: str | None = None) -> int:
    """Delete the sample files left by earlier runs; returns how many were removed.

    Call it once before any worker starts (a server restart would otherwise keep
    counting on top of the old processes' files and show their gauges forever).
    Only prometheus_client's ``*.db`` files (the archives of compacted processes
    among them, and the files an interrupted compaction moved aside) are touched, never
    the directories or the lock file.
    """
    path = path if path is not None else os.environ.get(MULTIPROC_DIR_ENV)
    if not path:
        return 0
    removed = 0
    pattern = os.path.join(glob.escape(path), "*.db")
    staged = os.path.join(glob.escape(path), STAGING_NAME, "*.db")
    for name in glob.glob(pattern) + glob.glob(staged):
        try:
            os.unlink(name)
        except FileNotFoundError:
            continue
        removed += 1
    remove_empty_staging(path)
    if removed:
        logger.info("Removed %d stale metric files from %s", removed, path)
    return removed


def values_are_multiprocess() -> bool:
    """Whether prometheus_client writes this process's samples to the directory.

    prometheus_client decides once, on its first import, from the environment: a
    ``PROMETHEUS_MULTIPROC_DIR`` set later (in settings.py, say) leaves this process's
    metrics out of every aggregated scrape.
    """
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue
