"""The Django project the system tests serve with gunicorn and uvicorn.

Everything instrumentable goes through django-prometheus: the SQLite database,
the local-memory cache, the two middlewares and ``/metrics``. The test harness
starts each server with environment variables that choose the variant:

``DJP_SYSTEM_SQLITE``          path of the (already migrated) SQLite database file
``DJP_SYSTEM_PLAIN=1``         the same project without django-prometheus at all, the
                               baseline a fault test compares responses with
``DJP_SYSTEM_POSTGRES_PORT``   adds a ``postgresql`` alias on that port (``…_HOST``: loopback)
``DJP_SYSTEM_REDIS_PORT``      adds ``redis`` (django-redis) and ``native_redis`` caches
``DJP_SYSTEM_MEMCACHED_PORT``  adds ``pymemcache`` and ``pylibmc`` caches
``DJP_SYSTEM_EXPORT_PORTS``    comma-separated ports for the port exporter (port range)
``DJP_SYSTEM_MIGRATIONS=1``    PROMETHEUS_EXPORT_MIGRATIONS on
``DJP_SYSTEM_BROKEN_LABELS=1`` an After middleware whose ``label_metric`` raises
``DJP_SYSTEM_SYNC_CONTROL=1``  adds a sync-only middleware (the thread-hop control)
``DJP_SYSTEM_RECORD_HOPS=1``   records every sync-to-async hop (see ``hops.py``)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "django-prometheus-system-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.system.project.urls"
WSGI_APPLICATION = "tests.system.project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

PLAIN = os.environ.get("DJP_SYSTEM_PLAIN") == "1"
_DB = "django.db.backends" if PLAIN else "django_prometheus.db.backends"
_CACHE = "django.core.cache.backends" if PLAIN else "django_prometheus.cache.backends"

INSTALLED_APPS = ["tests.system.project"]
if not PLAIN:
    INSTALLED_APPS.insert(0, "django_prometheus")

_after = "django_prometheus.middleware.PrometheusAfterMiddleware"
if os.environ.get("DJP_SYSTEM_BROKEN_LABELS") == "1":
    _after = "tests.system.project.broken.BrokenLabelsAfterMiddleware"
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.common.CommonMiddleware",
    _after,
]
if os.environ.get("DJP_SYSTEM_SYNC_CONTROL") == "1":
    MIDDLEWARE.insert(0, "tests.system.project.middleware.SyncOnlyControlMiddleware")
if PLAIN:
    MIDDLEWARE = [name for name in MIDDLEWARE if not name.startswith("django_prometheus.")]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
    }
]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": f"{_DB}.sqlite3",
        "NAME": os.environ.get("DJP_SYSTEM_SQLITE", ":memory:"),
        "OPTIONS": {"timeout": 20},
    },
}
if os.environ.get("DJP_SYSTEM_POSTGRES_PORT"):
    DATABASES["postgresql"] = {
        "ENGINE": f"{_DB}.postgresql",
        "NAME": os.environ.get("DJP_SYSTEM_POSTGRES_NAME", "postgres"),
        "USER": "postgres",
        "HOST": os.environ.get("DJP_SYSTEM_POSTGRES_HOST", "127.0.0.1"),
        "PORT": int(os.environ["DJP_SYSTEM_POSTGRES_PORT"]),
        "OPTIONS": {"connect_timeout": 5},
    }

CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": f"{_CACHE}.locmem.LocMemCache", "LOCATION": "system"},
}
if os.environ.get("DJP_SYSTEM_REDIS_PORT"):
    _redis_host = os.environ.get("DJP_SYSTEM_REDIS_HOST", "127.0.0.1")
    _redis = f"redis://{_redis_host}:{os.environ['DJP_SYSTEM_REDIS_PORT']}/0"
    CACHES["redis"] = {
        "BACKEND": "django_redis.cache.RedisCache"
        if PLAIN
        else "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": _redis,
        "KEY_PREFIX": "djp_system",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
    CACHES["native_redis"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if PLAIN
        else "django_prometheus.cache.backends.redis.NativeRedisCache",
        "LOCATION": _redis,
        "KEY_PREFIX": "djp_system",
    }
if os.environ.get("DJP_SYSTEM_MEMCACHED_PORT"):
    _memcached_host = os.environ.get("DJP_SYSTEM_MEMCACHED_HOST", "127.0.0.1")
    _memcached = f"{_memcached_host}:{os.environ['DJP_SYSTEM_MEMCACHED_PORT']}"
    CACHES["pymemcache"] = {
        "BACKEND": f"{_CACHE}.memcached.PyMemcacheCache",
        "LOCATION": _memcached,
        "KEY_PREFIX": "djp_system",
    }
    CACHES["pylibmc"] = {
        "BACKEND": f"{_CACHE}.memcached.PyLibMCCache",
        "LOCATION": _memcached,
        "KEY_PREFIX": "djp_system",
    }

# The migration gauges read the database once per process, at a moment of their
# choosing: servers whose tests count queries exactly leave them off.
PROMETHEUS_EXPORT_MIGRATIONS = not PLAIN and os.environ.get("DJP_SYSTEM_MIGRATIONS") == "1"

# No gauge at all (the in-progress gauge off, no migration or worker-alive gauges): each
# process writes only its counter and histogram files.
NO_GAUGES = os.environ.get("DJP_SYSTEM_NO_GAUGES") == "1"
if NO_GAUGES:
    PROMETHEUS_DISABLED_METRICS = ["django_http_requests_in_progress"]

if os.environ.get("DJP_SYSTEM_EXPORT_PORTS"):
    PROMETHEUS_METRICS_EXPORT_PORT_RANGE = [
        int(port) for port in os.environ["DJP_SYSTEM_EXPORT_PORTS"].split(",")
    ]
    PROMETHEUS_METRICS_EXPORT_ADDRESS = "127.0.0.1"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "stderr": {"class": "logging.StreamHandler"},
        "null": {"class": "logging.NullHandler"},
    },
    "loggers": {
        # The raising views would fill the server log with expected tracebacks.
        "django.request": {"handlers": ["null"], "propagate": False},
        "django_prometheus": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
