"""Compaction of exited processes' multiprocess files: one archive file per type.

Every process of a multiprocess server writes ``counter_<pid>.db``,
``histogram_<pid>.db``, … and prometheus_client never removes them, so a server that
recycles workers (gunicorn ``--max-requests``) collects files forever and every scrape
reads all of them. :func:`compact_dead` folds the files of processes that exited into
one archive per type, in prometheus_client's own file format and with a name its
collector accepts (``counter_archive.db``; for gauges ``gauge_<mode>_archive.db``, whose
"pid" ``archive`` the ``min``/``max``/``sum``/``mostrecent`` rules drop anyway):

* counters, histograms, summaries and ``sum`` gauges: the values of the same key add;
  ``min``/``max`` gauges keep the smaller/larger value, ``mostrecent`` the latest one;
* ``live*`` gauges are removed (what ``mark_process_dead`` does);
* ``all`` gauges are left alone: their series carry the pid, which an archive cannot keep.

Crash safety. The files being folded are first moved aside into the hidden
subdirectory ``.django-prometheus-folding`` (a rename, so each file is in exactly one
place; a new process that gets a folded worker's pid then starts a file of its own
instead of counting on in the old one). The new archive is written to a temporary file
(``.<name>.<random>.tmp``, which the collector's ``*.db`` glob never reads), fsynced and
renamed over the old one; only then are the moved files removed. The archive carries,
after the part prometheus_client reads, the identity (name, inode, size, modification
time) of every moved file it contains. A scrape reads the directory's files and the moved
files that no archive lists, so a crash at any point counts every value once, and the
next compaction finishes the work. Compaction holds an exclusive ``flock`` on
``.django-prometheus.lock`` in the directory; :class:`CompactedCollector` (what scrapes
read) holds it shared, so a scrape never sees a half-done compaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "ARCHIVE_SUFFIX",
    "LOCK_NAME",
    "STAGING_NAME",
    "CompactedCollector",
    "CompactionReport",
    "FileIdentity",
    "compact_dead",
    "compact_pids",
    "folded_identities",
    "has_unfinished",
    "pids_in",
    "remove_empty_staging",
    "scrape_files",
    "shared_lock",
]

logger = logging.getLogger("django_prometheus")

LOCK_NAME: Final = ".django-prometheus.lock"
# Where compaction moves the files it folds (see the crash-safety note above).
STAGING_NAME: Final = ".django-prometheus-folding"
ARCHIVE_SUFFIX: Final = "_archive.db"
_TEMP_SUFFIX: Final = ".tmp"
# After the part prometheus_client reads: the JSON list of folded files, then its length
# and a magic word, so that the list is found from the end of the file.
_TRAILER: Final = struct.Struct("<Q8s")
_MAGIC: Final = b"DJPARCH1"

Values = dict[str, tuple[float, float]]
_Fold = Callable[[tuple[float, float], tuple[float, float]], tuple[float, float]]


def _add(old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    return (old[0] + new[0], max(old[1], new[1]))


def _smaller(old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    return new if new[0] < old[0] else old


def _larger(old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    return new if new[0] > old[0] else old


def _latest(old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    return new if new[1] >= old[1] else old


# How the files of each prefix fold into its archive.
_RULES: Final[dict[str, _Fold]] = {
    "counter": _add,
    "histogram": _add,
    "summary": _add,
    "gauge_sum": _add,
    "gauge_min": _smaller,
    "gauge_max": _larger,
    "gauge_mostrecent": _latest,
}
_DROPPED: Final = frozenset(
    {"gauge_liveall", "gauge_livesum", "gauge_livemin", "gauge_livemax", "gauge_livemostrecent"}
)
_KEPT: Final = frozenset({"gauge_all"})


class FileIdentity(NamedTuple):
    """A worker file as it was folded: a later file of the same name is another one."""

    name: str
    inode: int
    size: int
    mtime_ns: int


class WorkerFile(NamedTuple):
    prefix: str
    pid: int


def parse_name(name: str) -> WorkerFile | None:
    """``counter_12.db`` → ("counter", 12); None for archives and anything else."""
    if not name.endswith(".db"):
        return None
    prefix, _, pid = name[:-3].rpartition("_")
    if not pid.isdigit() or not pid.isascii():
        return None
    if prefix not in _RULES and prefix not in _DROPPED and prefix not in _KEPT:
        return None
    return WorkerFile(prefix, int(pid))


def pids_in(path: str) -> set[int]:
    """The pids that have files in ``path`` that a compaction would fold or remove (an
    ``all`` gauge file alone, which compaction leaves, does not count)."""
    found = set()
    for name in os.listdir(path):
        parsed = parse_name(name)
        if parsed is not None and parsed.prefix not in _KEPT:
            found.add(parsed.pid)
    return found


def _identity(directory: str, name: str) -> FileIdentity | None:
    try:
        info = os.stat(os.path.join(directory, name))
    except FileNotFoundError:
        return None
    return FileIdentity(name, info.st_ino, info.st_size, info.st_mtime_ns)


# ----------------------------------------------------------------------- the archive


def _read_manifest(archive: str) -> list[FileIdentity]:
    try:
        with open(archive, "rb") as source:
            size = source.seek(0, os.SEEK_END)
            if size < _TRAILER.size:
                return []
            source.seek(size - _TRAILER.size)
            length, magic = _TRAILER.unpack(source.read(_TRAILER.size))
            if magic != _MAGIC or length > size - _TRAILER.size:
                return []
            source.seek(size - _TRAILER.size - length)
            entries = json.loads(source.read(length))
    except FileNotFoundError:
        return []
    return [FileIdentity(str(e[0]), int(e[1]), int(e[2]), int(e[3])) for e in entries]


def _read_values(filename: str) -> Iterator[tuple[str, float, float]]:
    rows: Iterable[tuple[str, float, float, int]] = MmapedDict.read_all_values_from_file(filename)  # type: ignore[no-untyped-call]
    for key, value, timestamp, _ in rows:
        yield key, value, timestamp


def _fsync_directory(directory: str) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _write_archive(
    directory: str, prefix: str, values: Values, manifest: Iterable[FileIdentity]
) -> None:
    """Write, fsync and atomically rename the archive of ``prefix`` into place."""
    handle, temp = tempfile.mkstemp(
        prefix=f".{prefix}{ARCHIVE_SUFFIX}.", suffix=_TEMP_SUFFIX, dir=directory
    )
    os.close(handle)
    try:
        table = MmapedDict(temp)  # type: ignore[no-untyped-call]
        try:
            for key, (value, timestamp) in values.items():
                table.write_value(key, value, timestamp)  # type: ignore[no-untyped-call]
        finally:
            table.close()  # type: ignore[no-untyped-call]
        body = json.dumps([list(entry) for entry in manifest]).encode()
        with open(temp, "r+b") as target:
            target.seek(0, os.SEEK_END)
            target.write(body + _TRAILER.pack(len(body), _MAGIC))
            target.flush()
            os.fsync(target.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, os.path.join(directory, prefix + ARCHIVE_SUFFIX))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


# ----------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def _locked(directory: str, operation: int) -> Iterator[None]:
    try:
        handle = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        if operation == fcntl.LOCK_EX:
            raise
        # A scraper that may not create the lock file reads without it.
        try:
            handle = os.open(os.path.join(directory, LOCK_NAME), os.O_RDONLY)
        except OSError:
            yield
            return
    try:
        fcntl.flock(handle, operation)
        yield
    finally:
        os.close(handle)  # releases the lock


# ------------------------------------------------------------------------ scrape side


def shared_lock(directory: str) -> contextlib.AbstractContextManager[None]:
    """The lock a scrape holds: no compaction runs while it is held."""
    return _locked(directory, fcntl.LOCK_SH)


def folded_identities(directory: str) -> set[FileIdentity]:
    """Every moved file an archive in ``directory`` says it already contains."""
    folded: set[FileIdentity] = set()
    for name in os.listdir(directory):
        if name.endswith(ARCHIVE_SUFFIX):
            folded.update(_read_manifest(os.path.join(directory, name)))
    return folded


def _staged_names(directory: str) -> list[str]:
    """The files compaction moved aside and has not removed yet, by name."""
    try:
        names = os.listdir(os.path.join(directory, STAGING_NAME))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(name for name in names if name.endswith(".db"))


def remove_empty_staging(directory: str) -> None:
    """Remove the moved-aside subdirectory unless something is left in it."""
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(directory, STAGING_NAME))


def has_unfinished(directory: str) -> bool:
    """Whether an interrupted compaction left moved-aside files for the next one."""
    return bool(_staged_names(directory))


def scrape_files(directory: str) -> list[str]:
    """The ``*.db`` files a scrape merges: the directory's, then the moved-aside files
    that no archive contains yet (there are any only after a crash, or during a
    compaction that a scraper without the lock does not wait for)."""
    files = [
        os.path.join(directory, name)
        for name in sorted(os.listdir(directory))
        if name.endswith(".db")
    ]
    staged = _staged_names(directory)
    if staged:
        folded = folded_identities(directory)
        for name in staged:
            relative = os.path.join(STAGING_NAME, name)
            if _identity(directory, relative) not in folded:
                files.append(os.path.join(directory, relative))
    return files


class CompactedCollector(Collector):
    """prometheus_client's multiprocess merge of the files a scrape should read, under the
    shared lock (so a running compaction is either wholly seen or not at all)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        with shared_lock(self.path):
            files = scrape_files(self.path)
            merged: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
            return list(merged)


# ---------------------------------------------------------------------- compaction


@dataclass
class CompactionReport:
    """What one compaction did, file names only."""

    folded: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.folded or self.dropped or self.finished)


def _remove_stale_temporaries(directory: str) -> None:
    for name in os.listdir(directory):
        if name.startswith(".") and ARCHIVE_SUFFIX in name and name.endswith(_TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))


def _fold_prefix(
    directory: str, prefix: str, names: list[str], report: CompactionReport, resumed: bool
) -> None:
    """Fold the moved-aside files ``names`` of ``prefix`` into its archive, then remove
    them. Files the archive already lists were folded by an interrupted compaction."""
    archive = os.path.join(directory, prefix + ARCHIVE_SUFFIX)
    listed = set(_read_manifest(archive))
    entries = [
        entry
        for name in names
        if (entry := _identity(directory, os.path.join(STAGING_NAME, name))) is not None
    ]
    fresh = [entry for entry in entries if entry not in listed]
    if fresh:
        fold = _RULES[prefix]
        values: Values = {}
        if os.path.exists(archive):
            for key, value, timestamp in _read_values(archive):
                values[key] = (value, timestamp)
        for entry in fresh:
            for key, value, timestamp in _read_values(os.path.join(directory, entry.name)):
                old = values.get(key)
                values[key] = (value, timestamp) if old is None else fold(old, (value, timestamp))
        _write_archive(directory, prefix, values, entries)
        report.archives.append(prefix + ARCHIVE_SUFFIX)
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, entry.name))
        done = report.finished if resumed or entry in listed else report.folded
        done.append(os.path.basename(entry.name))


def _fold_staged(directory: str, report: CompactionReport, resumed: bool) -> None:
    by_prefix: dict[str, list[str]] = {}
    for name in _staged_names(directory):
        parsed = parse_name(name)
        if parsed is not None and parsed.prefix in _RULES:
            by_prefix.setdefault(parsed.prefix, []).append(name)
    for prefix in _RULES:
        if prefix in by_prefix:
            _fold_prefix(directory, prefix, by_prefix[prefix], report, resumed)


def _stage(directory: str, pids: Collection[int], report: CompactionReport) -> bool:
    """Drop the pids' live gauges and move their other foldable files aside; whether any
    file was moved."""
    staging = os.path.join(directory, STAGING_NAME)
    moved = False
    for name in sorted(os.listdir(directory)):
        parsed = parse_name(name)
        if parsed is None or parsed.pid not in pids:
            continue
        if parsed.prefix in _DROPPED:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
            report.dropped.append(name)
        elif parsed.prefix in _KEPT:
            report.kept.append(name)
        else:
            if not moved:
                os.makedirs(staging, exist_ok=True)
            target = os.path.join(staging, name)
            # Never over a moved file not folded yet (the next compaction takes this one).
            if not os.path.lexists(target):
                os.replace(os.path.join(directory, name), target)
                moved = True
    if moved:
        # The moves are on disk before an archive that lists them is.
        _fsync_directory(staging)
        _fsync_directory(directory)
    return moved


def compact_pids(pids: Collection[int], path: str) -> CompactionReport:
    """Fold the files of the exited processes ``pids`` into the archives of ``path``.

    The caller vouches that every pid has exited (a pid is never guessed from a file
    name). What an interrupted compaction left moved aside is folded first.
    """
    report = CompactionReport()
    with _locked(path, fcntl.LOCK_EX):
        _remove_stale_temporaries(path)
        _fold_staged(path, report, resumed=True)
        if _stage(path, pids, report):
            _fold_staged(path, report, resumed=False)
        remove_empty_staging(path)
    if report:
        logger.debug("Compacted multiprocess files of pids %s: %s", sorted(pids), report)
    return report


def compact_dead(pid: int, path: str) -> CompactionReport:
    """Fold the files of the exited process ``pid`` into the archives of ``path``."""
    return compact_pids((pid,), path)
