"""Django system checks for the settings and the wiring of django-prometheus.

Every id is documented, with its fix, in ``docs/checks.md``. Run them alone with
``manage.py check --tag django_prometheus``; silence one with
``SILENCED_SYSTEM_CHECKS = ["django_prometheus.W003"]``.

The registered checks are thin: each reads Django's settings and the process
environment and hands them to a pure ``*_messages`` function, which the unit
tests call directly.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal

from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from django_prometheus import state
from django_prometheus.config import (
    KNOWN_SETTINGS,
    MULTIPROC_DIR_ENV,
    PrometheusConfig,
    load_config,
)
from django_prometheus.multiprocess import multiproc_dir_issue
from django_prometheus.startup import worker_count

if TYPE_CHECKING:
    from django.apps import AppConfig

__all__ = [
    "AFTER_MIDDLEWARE",
    "BEFORE_MIDDLEWARE",
    "TAG",
    "configuration_messages",
    "exporter_messages",
    "installed_app_messages",
    "middleware_messages",
    "multiprocess_messages",
]

TAG: Final = "django_prometheus"
APP: Final = "django_prometheus"
BEFORE_MIDDLEWARE: Final = "django_prometheus.middleware.PrometheusBeforeMiddleware"
AFTER_MIDDLEWARE: Final = "django_prometheus.middleware.PrometheusAfterMiddleware"
DB_BACKENDS: Final = "django_prometheus.db.backends."
CACHE_BACKENDS: Final = "django_prometheus.cache.backends."
_PREFIX: Final = "PROMETHEUS_"

_Kind = Literal["before", "after"]
_ConfigCheck = Callable[[PrometheusConfig, Mapping[str, str]], list[CheckMessage]]
_NAMES: Final[Mapping[_Kind, str]] = {
    "before": "PrometheusBeforeMiddleware",
    "after": "PrometheusAfterMiddleware",
}


def _id(code: str) -> str:
    return f"{TAG}.{code}"


# --- E001, W001: the PROMETHEUS_* settings ------------------------------------------


def configuration_messages(settings: object, environ: Mapping[str, str]) -> list[CheckMessage]:
    """E001 for values the config refuses, W001 for PROMETHEUS_* names it does not know."""
    messages: list[CheckMessage] = []
    try:
        load_config(settings, environ)
    except ImproperlyConfigured as error:
        messages.append(
            Error(
                str(error),
                hint="Correct the values listed above; each line names the setting, "
                "the value found and what is expected.",
                id=_id("E001"),
            )
        )
    unknown = sorted(
        name for name in dir(settings) if name.startswith(_PREFIX) and name not in KNOWN_SETTINGS
    )
    messages.extend(_unknown_setting(name) for name in unknown)
    return messages


def _unknown_setting(name: str) -> CheckMessage:
    if name == MULTIPROC_DIR_ENV:
        hint = (
            f"{MULTIPROC_DIR_ENV} is read from the environment of the server process, "
            "not from the Django settings: export it before the server starts."
        )
    else:
        # Compared without the shared prefix, which would make every name look close.
        known = {setting.removeprefix(_PREFIX): setting for setting in sorted(KNOWN_SETTINGS)}
        close = difflib.get_close_matches(name.removeprefix(_PREFIX), known, n=1, cutoff=0.6)
        hint = (
            f"Did you mean {known[close[0]]}?"
            if close
            else "Known settings: " + ", ".join(sorted(KNOWN_SETTINGS)) + "."
        )
    return CheckWarning(
        f"Unknown setting {name}: django-prometheus does not read it.",
        hint=hint,
        id=_id("W001"),
    )


@register(TAG)
def check_configuration(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    from django.conf import settings

    return configuration_messages(settings, os.environ)


# --- E002, W002-W005: the two middlewares ---------------------------------------------


def _import_our_middleware() -> tuple[type, type] | None:
    # The middleware module may be missing or broken; the checks must not be.
    try:
        before = import_string(BEFORE_MIDDLEWARE)
        after = import_string(AFTER_MIDDLEWARE)
    except Exception:
        return None
    if isinstance(before, type) and isinstance(after, type):
        return before, after
    return None


def _our_middleware() -> tuple[type, type] | None:
    return state.our_middleware.get(_import_our_middleware)


def _middleware_kind(path: str, ours: tuple[type, type] | None) -> _Kind | None:
    """Which of ours an entry is: by dotted path, or as a subclass (users subclass them)."""
    if path == BEFORE_MIDDLEWARE:
        return "before"
    if path == AFTER_MIDDLEWARE:
        return "after"
    if ours is None:
        return None
    try:
        candidate = import_string(path)
    except Exception:
        return None  # Django reports unimportable middleware itself, at startup.
    if not isinstance(candidate, type):
        return None
    if issubclass(candidate, ours[0]):
        return "before"
    if issubclass(candidate, ours[1]):
        return "after"
    return None


def middleware_messages(
    middleware: Sequence[str], ours: tuple[type, type] | None = None
) -> list[CheckMessage]:
    """E002 for After above Before, W002 for one without the other, W003/W004 for
    Before not first / After not last, W005 for one listed twice.

    ``ours`` are the Before and After classes whose subclasses count as them
    (default: django_prometheus.middleware's, when it imports).
    """
    ours = _our_middleware() if ours is None else ours
    entries = list(middleware)
    found: dict[_Kind, list[int]] = {"before": [], "after": []}
    for index, path in enumerate(entries):
        kind = _middleware_kind(path, ours)
        if kind is not None:
            found[kind].append(index)
    messages: list[CheckMessage] = []
    before, after = found["before"], found["after"]
    # E002's fix also puts them first and last: no W003/W004 on top of it.
    wrong_order = bool(before and after and after[0] < before[0])
    if wrong_order:
        messages.append(
            Error(
                f"{entries[after[0]]!r} is listed above {entries[before[0]]!r} in MIDDLEWARE.",
                hint="PrometheusBeforeMiddleware must be the first entry of MIDDLEWARE and "
                "PrometheusAfterMiddleware the last; in this order neither measures what "
                "its metrics say.",
                id=_id("E002"),
            )
        )
    pairs: tuple[tuple[_Kind, _Kind], ...] = (("before", "after"), ("after", "before"))
    for kind, other in pairs:
        if found[kind] and not found[other]:
            position = "first" if other == "before" else "last"
            messages.append(
                CheckWarning(
                    f"{entries[found[kind][0]]!r} is in MIDDLEWARE without {_NAMES[other]}.",
                    hint=f"Add 'django_prometheus.middleware.{_NAMES[other]}' as the "
                    f"{position} entry of MIDDLEWARE; the HTTP metrics it records are "
                    "missing until then.",
                    id=_id("W002"),
                )
            )
    if before and before[0] != 0 and not wrong_order:
        messages.append(
            CheckWarning(
                f"{entries[before[0]]!r} is not the first entry of MIDDLEWARE "
                f"({entries[0]!r} is above it).",
                hint="Move it to the top: the time and the early responses of the "
                "middlewares above it are left out of the metrics.",
                id=_id("W003"),
            )
        )
    if after and after[-1] != len(entries) - 1 and not wrong_order:
        messages.append(
            CheckWarning(
                f"{entries[after[-1]]!r} is not the last entry of MIDDLEWARE "
                f"({entries[-1]!r} is below it).",
                hint="Move it to the bottom: the middlewares below it are counted as view "
                "time, and requests they answer themselves are not counted by view.",
                id=_id("W004"),
            )
        )
    for kind, indexes in found.items():
        if len(indexes) > 1:
            listed = ", ".join(repr(entries[index]) for index in indexes)
            messages.append(
                CheckWarning(
                    f"{_NAMES[kind]} is in MIDDLEWARE {len(indexes)} times: {listed}.",
                    hint="Keep one entry: each one records every request again.",
                    id=_id("W005"),
                )
            )
    return messages


@register(TAG)
def check_middleware(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    from django.conf import settings

    return middleware_messages(getattr(settings, "MIDDLEWARE", None) or ())


# --- W006: used without the app -------------------------------------------------------


def installed_app_messages(
    installed: bool,
    middleware: Sequence[str],
    databases: Mapping[str, Mapping[str, object]],
    caches: Mapping[str, Mapping[str, object]],
    ours: tuple[type, type] | None = None,
) -> list[CheckMessage]:
    """W006 when our middleware or backends are configured but the app is not installed."""
    if installed:
        return []
    ours = _our_middleware() if ours is None else ours
    used = [f"MIDDLEWARE {path!r}" for path in middleware if _middleware_kind(path, ours)]
    used += _backends("DATABASES", "ENGINE", DB_BACKENDS, databases)
    used += _backends("CACHES", "BACKEND", CACHE_BACKENDS, caches)
    if not used:
        return []
    return [
        CheckWarning(
            f"{APP!r} is not in INSTALLED_APPS, but its parts are used: {', '.join(used)}.",
            hint=f"Add {APP!r} to INSTALLED_APPS. Without it the PROMETHEUS_* settings are "
            "not validated at startup, and the port exporter and the migration metrics "
            "do not start.",
            id=_id("W006"),
        )
    ]


def _backends(
    setting: str, key: str, prefix: str, configured: Mapping[str, Mapping[str, object]]
) -> list[str]:
    used = []
    for alias, options in configured.items():
        value = options.get(key)
        if isinstance(value, str) and value.startswith(prefix):
            used.append(f"{setting}[{alias!r}] {value!r}")
    return used


@register(TAG)
def check_installed_app(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    from django.apps import apps
    from django.conf import settings

    return installed_app_messages(
        apps.is_installed(APP),
        getattr(settings, "MIDDLEWARE", None) or (),
        getattr(settings, "DATABASES", None) or {},
        getattr(settings, "CACHES", None) or {},
    )


# --- W007: port exporter under the autoreloader ---------------------------------------


def exporter_messages(config: PrometheusConfig, environ: Mapping[str, str]) -> list[CheckMessage]:
    """W007 when a port exporter is configured in the autoreloader's server process."""
    from django.utils.autoreload import DJANGO_AUTORELOAD_ENV

    # The autoreloader sets it in the child process that runs the server.
    if environ.get(DJANGO_AUTORELOAD_ENV) != "true":
        return []
    if config.export_port is None and config.export_port_range is None:
        return []
    setting = (
        "PROMETHEUS_METRICS_EXPORT_PORT"
        if config.export_port is not None
        else "PROMETHEUS_METRICS_EXPORT_PORT_RANGE"
    )
    return [
        CheckWarning(
            f"{setting} is set while Django's autoreloader runs this process.",
            hint="The reloaded process serves the port, so every code change restarts the "
            "exporter: counters start again from zero and the port is briefly closed. Fine "
            "in development; start the server with --noreload if Prometheus scrapes it.",
            id=_id("W007"),
        )
    ]


_NO_MULTIPROCESS_EXEMPLARS: Final = CheckWarning(
    "PROMETHEUS_EXEMPLARS is set, but prometheus_client keeps no exemplars in "
    "multiprocess mode: the metrics are exported without them.",
    hint="Unset PROMETHEUS_EXEMPLARS, or run without PROMETHEUS_MULTIPROC_DIR.",
    id="django_prometheus.W009",
)

# --- E003, E004, W008: multiprocess mode -----------------------------------------------


def multiprocess_messages(
    config: PrometheusConfig, environ: Mapping[str, str]
) -> list[CheckMessage]:
    """E003/E004 for a multiprocess directory that is missing or not writable, W008 for
    several worker processes without multiprocess mode."""
    directory = config.multiproc_dir
    if directory is None:
        workers = worker_count(environ)
        if workers is None:
            return []
        source, count = workers
        return [
            CheckWarning(
                f"The server is configured for {count} worker processes ({source}), but "
                f"{MULTIPROC_DIR_ENV} is not set.",
                hint=f"Set {MULTIPROC_DIR_ENV} to an empty directory shared by the workers; "
                "otherwise each scrape shows only the worker that answered it. README.md, "
                "section Multiprocess, has the steps.",
                id=_id("W008"),
            )
        ]
    issue = multiproc_dir_issue(directory)  # the very test startup makes
    if issue is None:
        return [_NO_MULTIPROCESS_EXEMPLARS] if config.exemplars is not None else []
    if issue.missing:
        return [
            Error(
                f"{MULTIPROC_DIR_ENV}={directory!r} {issue.text}.",
                hint="Create the directory before the server starts (and empty it at each "
                f"deploy), or unset {MULTIPROC_DIR_ENV}.",
                id=_id("E003"),
            )
        ]
    return [
        Error(
            f"{MULTIPROC_DIR_ENV}={directory!r} {issue.text}.",
            hint="Give the user the server runs as write access to the directory; every "
            "process writes its metrics there.",
            id=_id("E004"),
        )
    ]


def _config_messages(
    environ: Mapping[str, str], checks: Iterable[_ConfigCheck]
) -> list[CheckMessage]:
    from django.conf import settings

    try:
        config = load_config(settings, environ)
    except ImproperlyConfigured:
        return []  # E001 reports it.
    return [message for check in checks for message in check(config, environ)]


@register(TAG)
def check_processes(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    return _config_messages(os.environ, (exporter_messages, multiprocess_messages))
