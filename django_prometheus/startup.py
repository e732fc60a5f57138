"""What this process was started as: which command, under which reloader, with how many
workers.

Only a process that serves requests starts a port exporter: ``migrate`` or
``shell`` must not take the port of the running site, and the parent process of
runserver's autoreloader never serves a request.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["SERVER_COMMANDS", "is_autoreloader_parent", "serves_requests", "worker_count"]

logger = logging.getLogger("django_prometheus")

# Server commands whose reloader re-runs the process in a child, and the variable
# that marks the child. The parent never serves a request: it must not hold a port.
_RELOADER_ENV_BY_COMMAND: Final[Mapping[str, str]] = {
    "runserver": "RUN_MAIN",  # django.utils.autoreload.DJANGO_AUTORELOAD_ENV
    "runserver_plus": "WERKZEUG_RUN_MAIN",  # django-extensions, werkzeug's reloader
}
# Management commands that serve requests; ready() starts no exporter for the others.
SERVER_COMMANDS: Final = frozenset({"runserver", "runserver_plus", "runmodwsgi"})
_MANAGE_SCRIPTS: Final = frozenset({"manage.py", "django-admin", "django-admin.py"})


def is_autoreloader_parent(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether this process is the parent of runserver's autoreloader.

    That process only watches and restarts its child (marked by ``RUN_MAIN=true``);
    it never serves a request, and a port it bound would stay taken across every
    reload. ``runserver --noreload`` has no such parent.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if len(argv) < 2:
        return False
    child_marker = _RELOADER_ENV_BY_COMMAND.get(argv[1])
    if child_marker is None or "--noreload" in argv[2:]:
        return False
    return environ.get(child_marker) != "true"


def _management_command(argv: Sequence[str]) -> str | None:
    """The management command this process runs, or None for a server such as gunicorn."""
    if len(argv) >= 2:
        from django.core.management import get_commands

        if argv[1] in get_commands():
            return argv[1]
    if not argv:  # embedded interpreters may leave sys.argv empty
        return None
    if os.path.basename(argv[0]) in _MANAGE_SCRIPTS or argv[0].endswith(
        os.path.join("django", "__main__.py")
    ):
        return "help"
    return None


def serves_requests(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """False for management commands other than the servers, and the autoreloader's parent."""
    argv = sys.argv if argv is None else argv
    command = _management_command(argv)
    if command is not None and command not in SERVER_COMMANDS:
        logger.debug("No metrics port exporter for the %r management command", command)
        return False
    if is_autoreloader_parent(argv, environ):
        logger.debug("No metrics port exporter in the autoreloader's parent process")
        return False
    return True


def worker_count(environ: Mapping[str, str]) -> tuple[str, int] | None:
    """The worker count an environment variable asks for, when it is more than one."""
    concurrency = _positive_int(environ.get("WEB_CONCURRENCY"))
    if concurrency is not None and concurrency > 1:
        return (f"WEB_CONCURRENCY={concurrency}", concurrency)
    workers = _gunicorn_workers(environ.get("GUNICORN_CMD_ARGS", ""))
    if workers is not None and workers > 1:
        return (f"GUNICORN_CMD_ARGS --workers {workers}", workers)
    return None


def _gunicorn_workers(arguments: str) -> int | None:
    try:
        words = shlex.split(arguments)
    except ValueError:
        return None
    workers = None
    for index, word in enumerate(words):
        value: str | None = None
        if word in ("-w", "--workers"):
            value = words[index + 1] if index + 1 < len(words) else None
        elif word.startswith("--workers="):
            value = word.partition("=")[2]
        elif word.startswith("-w") and len(word) > 2:
            value = word[2:]
        if value is not None:
            workers = _positive_int(value)
    return workers


def _positive_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
