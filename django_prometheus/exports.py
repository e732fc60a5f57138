"""Serving the metrics: the Django view and the port exporter threads.

Both read a registry and know nothing about the instruments: the global
``REGISTRY``, or, when ``PROMETHEUS_MULTIPROC_DIR`` is set, a registry merging
the files of every worker process. Both negotiate the format (Prometheus text,
or OpenMetrics when the scraper asks for it), gzip when the scraper accepts it,
honour ``name[]`` filters, and apply the access rules of
:mod:`django_prometheus.access`.
"""

from __future__ import annotations

import gzip
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from django_prometheus.access import AccessPolicy, Decision, decide
from django_prometheus.config import MULTIPROC_DIR_ENV, PrometheusConfig, get_config, load_config
from django_prometheus.multiprocess import MultiProcessRegistry, multiprocess_registry
from django_prometheus.safety import instrumentation_failed

__all__ = [
    "ExportToDjangoView",
    "Exposition",
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

_ViewT = TypeVar("_ViewT", bound=Callable[..., HttpResponse])
_Encoder = Callable[[Collector], bytes]

# Level 6 (zlib's default) compresses a scrape almost as well as gzip's default 9
# in a fraction of the time.
GZIP_LEVEL: Final = 6

# Server commands whose reloader re-runs the process in a child, and the variable
# that marks the child. The parent never serves a request: it must not hold a port.
_RELOADER_ENV_BY_COMMAND: Final[Mapping[str, str]] = {
    "runserver": "RUN_MAIN",  # django.utils.autoreload.DJANGO_AUTORELOAD_ENV
    "runserver_plus": "WERKZEUG_RUN_MAIN",  # django-extensions, werkzeug's reloader
}
# Management commands that serve requests; ready() starts no exporter for the others.
SERVER_COMMANDS: Final = frozenset({"runserver", "runserver_plus", "runmodwsgi"})
_MANAGE_SCRIPTS: Final = frozenset({"manage.py", "django-admin", "django-admin.py"})
# How long closing a port exporter may wait for its thread to notice.
_SHUTDOWN_POLL_SECONDS: Final = 0.1


class PortExporterError(ImproperlyConfigured):
    """A port exporter was asked for where it cannot work (the autoreloader's parent)."""


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class Exposition:
    """A rendered scrape: the bytes to send and the headers that describe them."""

    body: bytes
    content_type: str
    gzipped: bool


# Longer Accept values are negotiated but not cached: a client must not fill the cache.
_CACHED_HEADER_LIMIT: Final = 512


def _negotiate(accept: str) -> tuple[_Encoder, str]:
    if len(accept) > _CACHED_HEADER_LIMIT:
        return _negotiate_uncached(accept)
    return _negotiate_cached(accept)


@lru_cache(maxsize=64)
def _negotiate_cached(accept: str) -> tuple[_Encoder, str]:
    # A scraper sends the same Accept on every scrape: negotiate once per value.
    return _negotiate_uncached(accept)


def _negotiate_uncached(accept: str) -> tuple[_Encoder, str]:
    try:
        return choose_encoder(accept)
    except Exception:
        return choose_encoder("")


def _accepts_gzip(accept_encoding: str) -> bool:
    if len(accept_encoding) > _CACHED_HEADER_LIMIT:
        return _parse_accepts_gzip(accept_encoding)
    return _accepts_gzip_cached(accept_encoding)


@lru_cache(maxsize=64)
def _accepts_gzip_cached(accept_encoding: str) -> bool:
    return _parse_accepts_gzip(accept_encoding)


def _parse_accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, parameters = item.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


class _SampleNameFilter:
    """Only the samples named in ``names``, from a registry whose collectors have no names.

    ``CollectorRegistry.restricted_registry`` picks collectors by the names they
    describe; the multiprocess collector describes none, so it is filtered here.
    """

    def __init__(self, registry: Collector, names: frozenset[str]) -> None:
        self._registry = registry
        self._names = names

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            samples = [sample for sample in metric.samples if sample.name in self._names]
            if samples:
                kept = Metric(metric.name, metric.documentation, metric.type, metric.unit)
                kept.samples = samples
                yield kept


def _restricted(registry: Collector, names: Iterable[str]) -> Collector:
    wanted = frozenset(names)
    if isinstance(registry, CollectorRegistry) and not isinstance(registry, MultiProcessRegistry):
        return registry.restricted_registry(wanted)
    return _SampleNameFilter(registry, wanted)


def scrape_registry(config: PrometheusConfig) -> Collector:
    """The registry a scrape reads: the global one, or the merged multiprocess files."""
    if config.multiproc_dir is None:
        return REGISTRY
    if config.export_migrations:
        from django_prometheus.migrations import refresh_migration_exports

        # The merged files hold only what processes wrote: this one writes its gauges first.
        refresh_migration_exports()
    return multiprocess_registry(config.multiproc_dir)


def render_metrics(
    registry: Collector,
    *,
    accept: str | None = None,
    accept_encoding: str | None = None,
    names: Sequence[str] = (),
) -> Exposition:
    """Render ``registry`` for a scraper sending these ``Accept`` / ``Accept-Encoding`` values.

    ``names`` keeps only the samples of those names (the ``name[]`` query parameter).
    """
    encoder, content_type = _negotiate(accept or "")
    body = encoder(_restricted(registry, names) if names else registry)
    if accept_encoding and _accepts_gzip(accept_encoding):
        return Exposition(gzip.compress(body, compresslevel=GZIP_LEVEL), content_type, True)
    return Exposition(body, content_type, False)


# ---------------------------------------------------------------------- access control

_policy_cache: tuple[PrometheusConfig, AccessPolicy] | None = None


def _policy(config: PrometheusConfig) -> AccessPolicy:
    global _policy_cache
    cached = _policy_cache
    if cached is not None and cached[0] is config:
        return cached[1]
    policy = AccessPolicy.from_config(config)
    _policy_cache = (config, policy)
    return policy


@lru_cache(maxsize=4)
def _standalone_config(multiproc_dir: str | None) -> PrometheusConfig:
    environ = {} if multiproc_dir is None else {MULTIPROC_DIR_ENV: multiproc_dir}
    return load_config(object(), environ)


def _current_config() -> PrometheusConfig:
    """The project's config; the defaults when a port exporter runs without Django settings."""
    from django.conf import settings

    if settings.configured:
        return get_config()
    return _standalone_config(os.environ.get(MULTIPROC_DIR_ENV) or None)


# ------------------------------------------------------------------------ the Django view


def _exempt_from_login(view: _ViewT) -> _ViewT:
    """Mark ``view`` public for Django 5.1+'s LoginRequiredMiddleware (no-op before 5.1)."""
    try:
        from django.contrib.auth.decorators import login_not_required
    except ImportError:  # Django < 5.1: no LoginRequiredMiddleware to be exempt from
        return view
    return login_not_required(view)


def _refusal(decision: Decision, policy: AccessPolicy) -> HttpResponse:
    # The body names nothing: neither metrics nor which rule refused.
    if decision == "forbidden":
        return HttpResponse(b"Forbidden\n", status=403, content_type="text/plain; charset=utf-8")
    response = HttpResponse(b"Unauthorized\n", status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = policy.challenge()
    return response


# A cache in front of the site (Django's cache middleware, a proxy) must never hand one
# client's scrape to another: that would bypass the access settings.
_NO_STORE: Final = "no-store, private"  # "private": Django 4.2's cache middleware ignores no-store
_VARY: Final = "Accept, Accept-Encoding, Authorization"


@_exempt_from_login
def ExportToDjangoView(request: HttpRequest) -> HttpResponse:
    """Serve the metrics as a Django view (``django_prometheus.urls`` routes ``metrics`` here).

    Exempt from LoginRequiredMiddleware: protect it with the
    ``PROMETHEUS_METRICS_*`` access settings instead. No answer may be cached.
    """
    response = _metrics_response(request)
    response["Cache-Control"] = _NO_STORE
    response["Vary"] = _VARY
    return response


def _metrics_response(request: HttpRequest) -> HttpResponse:
    config = get_config()
    policy = _policy(config)
    meta = request.META
    if not policy.is_open:
        decision = decide(
            policy,
            remote_addr=meta.get("REMOTE_ADDR"),
            forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"),
            authorization=meta.get("HTTP_AUTHORIZATION"),
        )
        if decision != "allowed":
            logger.debug("Refused a metrics scrape (%s)", decision)
            return _refusal(decision, policy)
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    exposition = render_metrics(
        scrape_registry(config),
        accept=meta.get("HTTP_ACCEPT"),
        accept_encoding=meta.get("HTTP_ACCEPT_ENCODING"),
        names=request.GET.getlist("name[]"),
    )
    response = HttpResponse(exposition.body, content_type=exposition.content_type)
    if exposition.gzipped:
        response["Content-Encoding"] = "gzip"
    return response


# ------------------------------------------------------------------------ port exporters


class _MetricsHandler(BaseHTTPRequestHandler):
    """Serves the metrics on every path (as prometheus_client's own exporter does)."""

    # Seconds a connection may stay silent: an idle client must not hold a thread forever.
    timeout = 30

    def version_string(self) -> str:
        # No Python version in the Server header.
        return "django-prometheus"

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged."""

    def _serve(self, *, send_body: bool) -> None:
        try:
            status, headers, body = self._respond()
        except Exception as error:
            instrumentation_failed("export", error)
            status, headers, body = 500, [("Content-Type", "text/plain; charset=utf-8")], b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Cache-Control", _NO_STORE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _respond(self) -> tuple[int, list[tuple[str, str]], bytes]:
        config = _current_config()
        policy = _policy(config)
        plain = [("Content-Type", "text/plain; charset=utf-8")]
        if not policy.is_open:
            forwarded = self.headers.get_all("X-Forwarded-For")
            decision = decide(
                policy,
                remote_addr=str(self.client_address[0]),
                forwarded_for=", ".join(forwarded) if forwarded else None,
                authorization=self.headers.get("Authorization"),
            )
            if decision == "forbidden":
                return 403, plain, b"Forbidden\n"
            if decision == "unauthorized":
                return 401, [*plain, ("WWW-Authenticate", policy.challenge())], b"Unauthorized\n"
        names = parse_qs(urlsplit(self.path).query).get("name[]", [])
        exposition = render_metrics(
            scrape_registry(config),
            accept=self.headers.get("Accept"),
            accept_encoding=self.headers.get("Accept-Encoding"),
            names=names,
        )
        headers = [("Content-Type", exposition.content_type)]
        if exposition.gzipped:
            headers.append(("Content-Encoding", "gzip"))
        return 200, headers, exposition.body


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves its own host name (getfqdn), which can
        # stall on DNS for seconds; nothing here needs it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _MetricsServerV6(_MetricsServer):
    address_family = socket.AF_INET6


def _bind(addr: str, port: int) -> _MetricsServer:
    if not addr:
        return _MetricsServer(("", port), _MetricsHandler)
    family, _, _, _, sockaddr = socket.getaddrinfo(
        addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    server_class = _MetricsServerV6 if family == socket.AF_INET6 else _MetricsServer
    return server_class((str(sockaddr[0]), port), _MetricsHandler)


@dataclass(eq=False)
class PortExporter:
    """A metrics HTTP server running in a daemon thread of this process."""

    address: str
    port: int
    _server: _MetricsServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _pid: int = field(default_factory=os.getpid, repr=False)

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._pid == os.getpid() and self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        # After a fork the serving thread is gone: only our copy of the socket is closed.
        self._server.server_close()
        with _exporters_lock:
            if self in _exporters:
                _exporters.remove(self)


_exporters: list[PortExporter] = []
_exporters_lock = threading.Lock()
# What SetupPrometheusExportsFromConfig started, per process (a fork inherits the dict).
_config_exporter: dict[int, PortExporter | None] = {}
_config_lock = threading.Lock()


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


def _refuse_under_autoreloader() -> None:
    if is_autoreloader_parent():
        raise PortExporterError(
            "The metrics port exporter cannot run in the parent process of Django's "
            "autoreloader: that process never serves requests and would keep the port "
            "taken across reloads. Start the server with --noreload, or serve the "
            "metrics through the Django view (django_prometheus.urls)."
        )


def start_port_exporter(port: int, addr: str = "") -> PortExporter:
    """Serve the metrics on ``addr:port`` from a daemon thread; returns its handle.

    ``port`` 0 lets the system choose (see ``PortExporter.port``). Raises
    PortExporterError in the autoreloader's parent and OSError when the port
    cannot be bound.
    """
    _refuse_under_autoreloader()
    server = _bind(addr, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
        name=f"django-prometheus-exporter-{port}",
        daemon=True,
    )
    exporter = PortExporter(addr, server.server_port, server, thread)
    thread.start()
    with _exporters_lock:
        _exporters.append(exporter)
    return exporter


def stop_port_exporters() -> None:
    """Close every port exporter this process started (tests, graceful shutdown)."""
    with _exporters_lock:
        running = list(_exporters)
    for exporter in running:
        exporter.close()
    _config_exporter.clear()


def _start_on_range(port_range: Iterable[int], addr: str) -> PortExporter | None:
    _refuse_under_autoreloader()
    tried: list[int] = []
    for port in port_range:
        tried.append(port)
        try:
            return start_port_exporter(port, addr)
        except OSError as error:
            logger.debug("Metrics port %s:%d unavailable: %s", addr, port, error)
    logger.warning(
        "No free port for the metrics exporter on %r among %s", addr or "*", tried or "[]"
    )
    return None


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
    exporter = _start_on_range(port_range, addr)
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
            exporter = _start_on_range(config.export_port_range, config.export_address)
        elif config.export_port is not None:
            exporter = start_port_exporter(config.export_port, config.export_address)
        else:
            return None
        _config_exporter[pid] = exporter
    return None if exporter is None else exporter.port


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


def start_exporters_at_startup(
    config: PrometheusConfig,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int | None:
    """What ``DjangoPrometheusConfig.ready()`` does about the port exporter.

    Nothing unless a port is configured; nothing for management commands other than
    the servers (``migrate`` or ``shell`` must not take the port of the running site);
    nothing in the autoreloader's parent (its child, which serves, exports). A port
    that cannot be bound is logged, not raised: the site starts without the exporter.
    """
    if config.export_port is None and config.export_port_range is None:
        return None
    argv = sys.argv if argv is None else argv
    command = _management_command(argv)
    if command is not None and command not in SERVER_COMMANDS:
        logger.debug("No metrics port exporter for the %r management command", command)
        return None
    if is_autoreloader_parent(argv, environ):
        logger.debug("No metrics port exporter in the autoreloader's parent process")
        return None
    try:
        return SetupPrometheusExportsFromConfig()
    except OSError as error:
        logger.error(
            "The metrics port exporter could not start (%s); the application runs without it",
            error,
        )
        return None
