"""``manage.py prometheus_compact``: fold the metric files of exited processes into archives.

For servers without a worker-exit hook (uvicorn ``--workers``, uwsgi): run it
periodically, or from your own exit hook, with the server's ``PROMETHEUS_MULTIPROC_DIR``
and in the server's pid namespace (the same host or container), since a pid is judged
exited by ``os.kill(pid, 0)``.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_prometheus.config import MULTIPROC_DIR_ENV, get_config
from django_prometheus.multiprocess_compaction import compact_pids, has_unfinished, pids_in


def process_exists(pid: int) -> bool:
    """Whether ``pid`` names a running process (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Command(BaseCommand):
    help = (
        "Fold the multiprocess metric files of processes that no longer exist into one "
        "archive file per type, keeping every total."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--path",
            help=f"the multiprocess directory (default: {MULTIPROC_DIR_ENV})",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only list the pids that would be compacted"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: str | None = options["path"] or get_config().multiproc_dir
        if not path:
            raise CommandError(f"{MULTIPROC_DIR_ENV} is not set and no --path was given.")
        if not os.path.isdir(path):
            raise CommandError(f"{path!r} is not a directory.")
        pids = sorted(
            pid for pid in pids_in(path) if pid != os.getpid() and not process_exists(pid)
        )
        if not pids and not has_unfinished(path):
            self.stdout.write(f"No files of exited processes in {path}.")
            return
        listed = ", ".join(str(pid) for pid in pids) or "none"
        if options["dry_run"]:
            self.stdout.write(f"Would compact the files of exited pids {listed} in {path}.")
            return
        report = compact_pids(pids, path)
        self.stdout.write(
            f"Compacted exited pids {listed} in {path}: folded {len(report.folded)} files "
            f"into {', '.join(report.archives) or 'no archive'}, removed {len(report.dropped)} "
            f"live gauge files, kept {len(report.kept)} 'all' gauge files"
            + (f", finished {len(report.finished)} interrupted" if report.finished else "")
            + "."
        )
        for name in report.folded:
            self.stdout.write(f"  folded {name}")
        for name in report.dropped:
            self.stdout.write(f"  removed {name}")
