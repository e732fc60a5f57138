"""The established package's export API: the view, the port exporters, the startup decision.

The work is done elsewhere: :mod:`~django_prometheus.exposition` renders,
:mod:`~django_prometheus.scrape` answers a scrape, :mod:`~django_prometheus.views`
and :mod:`~django_prometheus.port_exporter` serve it, and
:mod:`~django_prometheus.startup` decides whether this process may hold a port.
``HTTPServer`` is the server class the port exporters construct, looked up here
at every call, so that a test can patch ``django_prometheus.exports.HTTPServer``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence

from django_prometheus import state
from django_prometheus.config import PrometheusConfig, get_config
from django_prometheus.exposition import Exposition, render_metrics
from django_prometheus.port_exporter import MetricsHTTPServer, PortExporter, PortExporterError
from django_prometheus.port_exporter import start_on_first_free_port as _start_on_first_free_port
from django_prometheus.port_exporter import start_port_exporter as _start_port_exporter
from django_prometheus.port_exporter import stop_port_exporters as _stop_port_exporters
from django_prometheus.scrape import scrape_registry
from django_prometheus.startup import is_autoreloader_parent, serves_requests
from django_prometheus.views import ExportToDjangoView

__all__ = [
    "ExportToDjangoView",
    "Exposition",
    "HTTPServer",
    "PortExporter",
    "PortExporterError",
    "SetupPrometheusEndpointOnPort",
    "SetupPrometheusEndpointOnPortRange",
    "SetupPrometheusExportsFromConfig",
    "is_autoreloader_parent",
    "render_metrics",
    "scrape_registry",
    "start_exporters_at_startup",
    "start_port_exporter",
    "stop_port_exporters",
]

logger = logging.getLogger("django_prometheus")

HTTPServer = MetricsHTTPServer

_config_exporter = state.exporter_from_config
_config_lock = threading.Lock()


def start_port_exporter(port: int, addr: str = "") -> PortExporter:
    """Serve the metrics on ``addr:port`` from a daemon thread; returns its handle.

    ``port`` 0 lets the system choose (see ``PortExporter.port``). Raises
    PortExporterError in the autoreloader's parent and OSError when the port
    cannot be bound.
    """
    return _start_port_exporter(port, addr, server_factory=HTTPServer)


def stop_port_exporters() -> None:
    """Close every port exporter this process started (tests, graceful shutdown)."""
    _stop_port_exporters()
    _config_exporter.clear()


def SetupPrometheusEndpointOnPort(port: int, addr: str = "") -> None:
    """Serve the metrics on ``addr:port`` (all interfaces by default) from a daemon thread.

    Raises PortExporterError in the autoreloader's parent and OSError when the
    port is taken.
    """
    start_port_exporter(port, addr)


def SetupPrometheusEndpointOnPortRange(port_range: Iterable[int], addr: str = "") -> int | None:
    """Like :func:`SetupPrometheusEndpointOnPort` on the first free port of ``port_range``.

    Returns the port chosen, or None when every port was taken. One port per
    process: this is how several workers without multiprocess mode each export.
    """
    exporter = _start_on_first_free_port(port_range, addr, server_factory=HTTPServer)
    return None if exporter is None else exporter.port


def SetupPrometheusExportsFromConfig() -> int | None:
    """Start the port exporter the ``PROMETHEUS_METRICS_EXPORT_*`` settings ask for.

    ``PROMETHEUS_METRICS_EXPORT_PORT_RANGE`` wins over ``PROMETHEUS_METRICS_EXPORT_PORT``.
    Returns the port served, or None. Calling it again in the same process returns
    the running exporter's port instead of binding a second one.
    """
    config = get_config()
    pid = os.getpid()
    with _config_lock:
        if pid in _config_exporter:
            running = _config_exporter[pid]
            return None if running is None else running.port
        exporter: PortExporter | None
        if config.export_port_range is not None:
            exporter = _start_on_first_free_port(
                config.export_port_range, config.export_address, server_factory=HTTPServer
            )
        elif config.export_port is not None:
            exporter = start_port_exporter(config.export_port, config.export_address)
        else:
            return None
        _config_exporter[pid] = exporter
    return None if exporter is None else exporter.port


def start_exporters_at_startup(
    config: PrometheusConfig,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int | None:
    """What ``DjangoPrometheusConfig.ready()`` does about the port exporter.

    Nothing unless a port is configured, and nothing in a process that serves no
    request (see :func:`~django_prometheus.startup.serves_requests`). A port that
    cannot be bound is logged, not raised: the site starts without the exporter.
    """
    if config.export_port is None and config.export_port_range is None:
        return None
    if not serves_requests(argv, environ):
        return None
    try:
        return SetupPrometheusExportsFromConfig()
    except OSError as error:
        logger.error(
            "The metrics port exporter could not start (%s); the application runs without it",
            error,
        )
        return None
