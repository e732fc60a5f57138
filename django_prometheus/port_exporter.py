"""The metrics on a port of their own, served from a daemon thread of this process."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import TCPServer
from typing import Final
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

from django_prometheus import state
from django_prometheus.safety import instrumentation_failed
from django_prometheus.scrape import ScrapeAnswer, ScrapeRequest, serve_scrape
from django_prometheus.startup import is_autoreloader_parent

__all__ = [
    "MetricsHTTPServer",
    "MetricsHandler",
    "PortExporter",
    "PortExporterError",
    "ServerFactory",
    "start_on_first_free_port",
    "start_port_exporter",
    "stop_port_exporters",
]

logger = logging.getLogger("django_prometheus")

# How long closing a port exporter may wait for its thread to notice.
_SHUTDOWN_POLL_SECONDS: Final = 0.1


class PortExporterError(ImproperlyConfigured):
    """A port exporter was asked for where it cannot work (the autoreloader's parent)."""


class MetricsHandler(http.server.BaseHTTPRequestHandler):
    """Serves the metrics on every path (as prometheus_client's own exporter does)."""

    # Seconds a connection may stay silent: an idle client must not hold a thread forever.
    timeout = 30

    def version_string(self) -> str:
        # No Python version in the Server header.
        return "django-prometheus"

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged."""

    def _serve(self) -> None:
        try:
            forwarded = self.headers.get_all("X-Forwarded-For")
            answer = serve_scrape(
                ScrapeRequest(
                    method=self.command,
                    remote_addr=str(self.client_address[0]),
                    forwarded_for=", ".join(forwarded) if forwarded else None,
                    authorization=self.headers.get("Authorization"),
                    accept=self.headers.get("Accept"),
                    accept_encoding=self.headers.get("Accept-Encoding"),
                    names=parse_qs(urlsplit(self.path).query).get("name[]", []),
                )
            )
        except Exception as error:  # reading the request itself failed
            instrumentation_failed("export", error)
            answer = ScrapeAnswer(503, (("Content-Type", "text/plain; charset=utf-8"),), b"")
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    # Every method gets the view's answer (405 but for GET and HEAD), not http.server's 501.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve  # noqa: N815


class MetricsHTTPServer(http.server.ThreadingHTTPServer):
    """``http.server.HTTPServer`` with a daemon thread per connection, IPv6 when the
    address is one, and no reverse DNS lookup when binding."""

    daemon_threads = True

    def __init__(
        self,
        server_address: tuple[str, int],
        handler_class: Callable[..., http.server.BaseHTTPRequestHandler],
        bind_and_activate: bool = True,
    ) -> None:
        host, port = server_address[0], server_address[1]
        if host:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            self.address_family = family
            server_address = (str(sockaddr[0]), port)
        super().__init__(server_address, handler_class, bind_and_activate)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves its own host name (getfqdn), which can
        # stall on DNS for seconds; nothing here needs it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


ServerFactory = Callable[[tuple[str, int], type[MetricsHandler]], http.server.HTTPServer]


@dataclass(eq=False)
class PortExporter:
    """A metrics HTTP server running in a daemon thread of this process."""

    address: str
    port: int
    _server: http.server.HTTPServer = field(repr=False)
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


_exporters = state.port_exporters
_exporters_lock = threading.Lock()


def refuse_under_autoreloader() -> None:
    if is_autoreloader_parent():
        raise PortExporterError(
            "The metrics port exporter cannot run in the parent process of Django's "
            "autoreloader: that process never serves requests and would keep the port "
            "taken across reloads. Start the server with --noreload, or serve the "
            "metrics through the Django view (django_prometheus.urls)."
        )


def start_port_exporter(
    port: int, addr: str = "", *, server_factory: ServerFactory = MetricsHTTPServer
) -> PortExporter:
    """Serve the metrics on ``addr:port`` from a daemon thread; returns its handle.

    ``port`` 0 lets the system choose (see ``PortExporter.port``). Raises
    PortExporterError in the autoreloader's parent and OSError when the port
    cannot be bound.
    """
    refuse_under_autoreloader()
    server = server_factory((addr, port), MetricsHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
        name=f"django-prometheus-exporter-{port}",
        daemon=True,
    )
    exporter = PortExporter(addr, port or int(server.server_address[1]), server, thread)
    thread.start()
    with _exporters_lock:
        _exporters.append(exporter)
    return exporter


def start_on_first_free_port(
    port_range: Iterable[int], addr: str = "", *, server_factory: ServerFactory = MetricsHTTPServer
) -> PortExporter | None:
    """The exporter on the first port of ``port_range`` that binds; None when none does."""
    refuse_under_autoreloader()
    tried: list[int] = []
    for port in port_range:
        tried.append(port)
        try:
            return start_port_exporter(port, addr, server_factory=server_factory)
        except OSError as error:
            logger.debug("Metrics port %s:%d unavailable: %s", addr, port, error)
    logger.warning(
        "No free port for the metrics exporter on %r among %s", addr or "*", tried or "[]"
    )
    return None


def stop_port_exporters() -> None:
    """Close every port exporter this process started (tests, graceful shutdown)."""
    with _exporters_lock:
        running = list(_exporters)
    for exporter in running:
        exporter.close()
