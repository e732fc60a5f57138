"""The port exporter threads: real sockets on the loopback interface, fetched with urllib."""

from __future__ import annotations

import gzip
import http.server
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest
from prometheus_client import REGISTRY, Counter
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from django_prometheus import exports, port_exporter
from django_prometheus.config import get_config
from django_prometheus.exports import (
    PortExporterError,
    SetupPrometheusEndpointOnPort,
    SetupPrometheusEndpointOnPortRange,
    SetupPrometheusExportsFromConfig,
    is_autoreloader_parent,
    start_exporters_at_startup,
    start_port_exporter,
    stop_port_exporters,
)

TOKEN = "port-token-0123456789abcdef"
REFUSAL = (
    "The metrics port exporter cannot run in the parent process of Django's "
    "autoreloader: that process never serves requests and would keep the port "
    "taken across reloads. Start the server with --noreload, or serve the "
    "metrics through the Django view (django_prometheus.urls)."
)


@pytest.fixture(autouse=True)
def stopped_exporters() -> Iterator[None]:
    yield
    stop_port_exporters()


@pytest.fixture
def probe() -> Iterator[Counter]:
    counter = Counter("djp_port_probe", "A counter the port exporter tests read.")
    counter.inc(7)
    yield counter
    REGISTRY.unregister(counter)


@pytest.fixture
def server_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look like a gunicorn worker, whatever pytest was started with."""
    monkeypatch.setattr("sys.argv", ["/usr/bin/gunicorn", "project.wsgi"])
    monkeypatch.delenv("RUN_MAIN", raising=False)


def free_ports(count: int) -> list[int]:
    holders = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [holder.getsockname()[1] for holder in holders]
    for holder in holders:
        holder.close()
    return ports


def held_port() -> socket.socket:
    """A port another program is listening on."""
    return socket.create_server(("127.0.0.1", 0))


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    assert url.startswith(("http://127.0.0.1:", "http://[::1]:"))
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def probe_value(body: bytes) -> float | None:
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "djp_port_probe_total":
                return sample.value
    return None


@pytest.mark.usefixtures("probe", "server_argv")
def test_serves_on_a_free_loopback_port() -> None:
    (port,) = free_ports(1)
    assert SetupPrometheusEndpointOnPort(port, addr="127.0.0.1") is None  # type: ignore[func-returns-value]
    status, headers, body = fetch(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert headers["Server"] == "django-prometheus"
    assert headers["Cache-Control"] == "no-store, private"
    assert probe_value(body) == 7.0
    # Any path, like prometheus_client's own exporter.
    assert probe_value(fetch(f"http://127.0.0.1:{port}/")[2]) == 7.0


@pytest.mark.usefixtures("probe", "server_argv")
def test_negotiation_gzip_and_filter_on_the_port() -> None:
    exporter = start_port_exporter(0, "127.0.0.1")
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    status, headers, body = fetch(
        url + "?name[]=djp_port_probe_total",
        {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"},
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0;")
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == (
        b"# HELP djp_port_probe A counter the port exporter tests read.\n"
        b"# TYPE djp_port_probe counter\n"
        b"djp_port_probe_total 7.0\n"
        b"# EOF\n"
    )
    head = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(head, timeout=5) as response:  # noqa: S310
        assert response.status == 200
        assert int(response.headers["Content-Length"]) > 0
        assert response.read() == b""


@pytest.mark.usefixtures("probe", "server_argv")
def test_ipv6_loopback() -> None:
    exporter = start_port_exporter(0, "::1")
    assert probe_value(fetch(f"http://[::1]:{exporter.port}/metrics")[2]) == 7.0


@pytest.mark.usefixtures("server_argv")
def test_close_frees_the_port() -> None:
    exporter = start_port_exporter(0, "127.0.0.1")
    assert fetch(f"http://127.0.0.1:{exporter.port}/")[0] == 200
    exporter.close()
    with pytest.raises(urllib.error.URLError):
        fetch(f"http://127.0.0.1:{exporter.port}/")
    # The port can be bound again at once.
    socket.create_server(("127.0.0.1", exporter.port)).close()


@pytest.mark.usefixtures("probe", "server_argv")
def test_port_range_skips_a_taken_port() -> None:
    with held_port() as holder:
        taken = holder.getsockname()[1]
        (free,) = free_ports(1)
        assert SetupPrometheusEndpointOnPortRange([taken, free], addr="127.0.0.1") == free
        assert probe_value(fetch(f"http://127.0.0.1:{free}/metrics")[2]) == 7.0


@pytest.mark.usefixtures("server_argv")
def test_port_range_all_taken(caplog: pytest.LogCaptureFixture) -> None:
    with held_port() as first, held_port() as second:
        ports = [first.getsockname()[1], second.getsockname()[1]]
        with caplog.at_level(logging.WARNING, logger="django_prometheus"):
            assert SetupPrometheusEndpointOnPortRange(ports, addr="127.0.0.1") is None
    assert caplog.messages == [
        f"No free port for the metrics exporter on '127.0.0.1' among {ports}"
    ]


@pytest.mark.usefixtures("server_argv")
def test_single_port_taken_raises_oserror() -> None:
    with held_port() as holder, pytest.raises(OSError, match="Address already in use"):
        SetupPrometheusEndpointOnPort(holder.getsockname()[1], addr="127.0.0.1")


@pytest.mark.usefixtures("probe", "server_argv")
def test_access_control_applies_to_the_port(settings: Settings) -> None:
    exporter = start_port_exporter(0, "127.0.0.1")
    url = f"http://127.0.0.1:{exporter.port}/metrics"
    settings.PROMETHEUS_METRICS_BEARER_TOKEN = TOKEN
    status, headers, body = fetch(url)
    assert (status, headers["WWW-Authenticate"], body) == (
        401,
        'Bearer realm="metrics"',
        b"Unauthorized\n",
    )
    status, _, body = fetch(url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert probe_value(body) == 7.0

    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    # A spoofed header from the untrusted loopback peer is not believed.
    status, _, body = fetch(
        url, {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "192.0.2.1"}
    )
    assert (status, body) == (403, b"Forbidden\n")
    settings.PROMETHEUS_METRICS_TRUSTED_PROXIES = ["127.0.0.0/8"]
    status, _, body = fetch(
        url, {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "192.0.2.1"}
    )
    assert status == 200
    assert probe_value(body) == 7.0


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["manage.py", "runserver"], {}, True),
        (["manage.py", "runserver", "0.0.0.0:8000"], {"RUN_MAIN": ""}, True),
        (["/venv/lib/django/__main__.py", "runserver"], {}, True),
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, False),
        (["manage.py", "runserver", "--noreload"], {}, False),
        (["manage.py", "runserver_plus"], {}, True),
        (["manage.py", "runserver_plus"], {"WERKZEUG_RUN_MAIN": "true"}, False),
        (["manage.py", "runserver_plus"], {"RUN_MAIN": "true"}, True),
        (["manage.py", "migrate"], {}, False),
        (["manage.py"], {}, False),
        (["/usr/bin/gunicorn", "project.wsgi"], {}, False),
        ([], {}, False),
    ],
)
def test_is_autoreloader_parent(argv: list[str], environ: dict[str, str], expected: bool) -> None:
    assert is_autoreloader_parent(argv, environ) is expected


def test_refused_in_the_autoreloader_parent(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # What runserver's parent looks like: no RUN_MAIN, the reloader not switched off.
    monkeypatch.setattr("sys.argv", ["manage.py", "runserver"])
    monkeypatch.delenv("RUN_MAIN", raising=False)
    (port,) = free_ports(1)
    settings.PROMETHEUS_METRICS_EXPORT_PORT = port
    for start in (
        lambda: SetupPrometheusEndpointOnPort(port, "127.0.0.1"),
        lambda: SetupPrometheusEndpointOnPortRange([port], "127.0.0.1"),
        SetupPrometheusExportsFromConfig,
        lambda: start_port_exporter(port, "127.0.0.1"),
    ):
        with pytest.raises(PortExporterError) as refused:
            start()
        assert str(refused.value) == REFUSAL
    # Nothing was bound.
    socket.create_server(("127.0.0.1", port)).close()
    # The reloaded child (RUN_MAIN=true) serves, and frees the port when it is replaced.
    monkeypatch.setenv("RUN_MAIN", "true")
    SetupPrometheusEndpointOnPort(port, "127.0.0.1")
    assert fetch(f"http://127.0.0.1:{port}/")[0] == 200


@pytest.mark.usefixtures("server_argv")
def test_exports_from_config(settings: Settings) -> None:
    assert SetupPrometheusExportsFromConfig() is None
    taken = held_port()
    free, other = free_ports(2)
    settings.PROMETHEUS_METRICS_EXPORT_PORT = other
    settings.PROMETHEUS_METRICS_EXPORT_PORT_RANGE = [taken.getsockname()[1], free]
    settings.PROMETHEUS_METRICS_EXPORT_ADDRESS = "127.0.0.1"
    with taken:
        # The range wins over the single port.
        assert SetupPrometheusExportsFromConfig() == free
    assert fetch(f"http://127.0.0.1:{free}/")[0] == 200
    # A second call in the same process does not bind a second port.
    assert SetupPrometheusExportsFromConfig() == free
    assert [exporter.port for exporter in port_exporter._exporters] == [free]


@pytest.mark.parametrize(
    ("argv", "environ", "starts"),
    [
        (["/usr/bin/gunicorn", "project.wsgi"], {}, True),
        (["/usr/bin/uwsgi", "--ini", "uwsgi.ini"], {}, True),
        (["manage.py", "runserver", "--noreload"], {}, True),
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),
        # The autoreloader's parent: its child exports.
        (["manage.py", "runserver"], {}, False),
        # Management commands must not take the running site's port.
        (["manage.py", "migrate"], {}, False),
        (["/venv/bin/django-admin", "shell"], {}, False),
        (["/venv/lib/python3/site-packages/django/__main__.py", "check"], {}, False),
        (["manage.py"], {}, False),
        (["manage.py", "no-such-command"], {}, False),
    ],
)
def test_startup_starts_only_for_servers(
    settings: Settings, argv: list[str], environ: dict[str, str], starts: bool
) -> None:
    (port,) = free_ports(1)
    settings.PROMETHEUS_METRICS_EXPORT_PORT = port
    settings.PROMETHEUS_METRICS_EXPORT_ADDRESS = "127.0.0.1"
    result = start_exporters_at_startup(get_config(), argv, environ)
    assert result == (port if starts else None)
    assert [exporter.port for exporter in port_exporter._exporters] == ([port] if starts else [])


def test_startup_without_a_port_starts_nothing() -> None:
    assert start_exporters_at_startup(get_config(), ["/usr/bin/gunicorn", "app"], {}) is None
    assert port_exporter._exporters == []


def test_startup_logs_a_taken_port_and_goes_on(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with held_port() as holder:
        settings.PROMETHEUS_METRICS_EXPORT_PORT = holder.getsockname()[1]
        settings.PROMETHEUS_METRICS_EXPORT_ADDRESS = "127.0.0.1"
        with caplog.at_level(logging.ERROR, logger="django_prometheus"):
            assert start_exporters_at_startup(get_config(), ["gunicorn", "app"], {}) is None
    assert caplog.messages == [
        (
            "The metrics port exporter could not start ([Errno 98] Address already in use);"
            " the application runs without it"
        )
    ]


def start_time(port: int) -> float | None:
    """``process_start_time_seconds`` of whichever process serves ``port``, if any."""
    try:
        status, _, body = fetch(f"http://127.0.0.1:{port}/metrics")
    except (urllib.error.URLError, ConnectionError):
        return None
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "process_start_time_seconds":
                return sample.value
    raise AssertionError("no process_start_time_seconds in the scrape")


def web_status(port: int) -> float | None:
    try:
        status, _, _ = fetch(f"http://127.0.0.1:{port}/metrics")
    except (urllib.error.URLError, ConnectionError):
        return None
    assert status == 200
    return status


def wait_for(condition: Callable[[], float | None], what: str, log: Path) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = condition()
        if value is not None:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; runserver said:\n{log.read_text()}")


def test_runserver_with_autoreload_exports_from_the_reloaded_child(tmp_path: Path) -> None:
    web, export = free_ports(2)
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_runserver",
        "DJP_TEST_EXPORT_PORT": str(export),
        "PYTHONPATH": str(repo),
    }
    env.pop("RUN_MAIN", None)
    log = tmp_path / "runserver.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{web}"],
            cwd=repo,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # The Django view answers on the web port of the same server.
        wait_for(lambda: web_status(web), "the web port", log)
        first = wait_for(lambda: start_time(export), "the port exporter", log)
        # A code change replaces the child. Had the parent taken the port, the new child
        # could not bind it and the old start time would stay.
        settings_file = repo / "tests" / "testapp" / "settings_runserver.py"

        def restarted() -> float | None:
            # Touched on every poll: the reloader ignores a change made before its first scan.
            os.utime(settings_file)
            now = start_time(export)
            return now if now is not None and now != first else None

        second = wait_for(restarted, "the reloaded child's exporter", log)
        assert second > first
        assert "Address already in use" not in log.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def test_port_exporter_without_django_settings(tmp_path: Path) -> None:
    """A script that never configures Django still gets the global registry served."""
    script = (
        "import urllib.request\n"
        "from prometheus_client import Counter\n"
        "from django_prometheus.exports import start_port_exporter\n"
        "Counter('djp_standalone', 'Standalone.').inc(2)\n"
        "exporter = start_port_exporter(0, '127.0.0.1')\n"
        "url = f'http://127.0.0.1:{exporter.port}/?name[]=djp_standalone_total'\n"
        "print(urllib.request.urlopen(url, timeout=5).read().decode(), end='')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines()[-1] == "djp_standalone_total 2.0"


@pytest.mark.usefixtures("server_argv")
def test_a_silent_connection_does_not_hold_a_thread_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_prometheus import port_exporter

    monkeypatch.setattr(port_exporter.MetricsHandler, "timeout", 0.5)
    exporter = start_port_exporter(0, "127.0.0.1")
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=5) as silent:
        silent.settimeout(5)
        # Sends nothing: the server gives up after its timeout and closes the connection.
        assert silent.recv(1024) == b""


def test_an_empty_argv_counts_as_a_server(settings: Settings) -> None:
    # Embedded interpreters (mod_wsgi, some test runners) may leave sys.argv empty.
    settings.PROMETHEUS_METRICS_EXPORT_PORT = free_ports(1)[0]
    settings.PROMETHEUS_METRICS_EXPORT_ADDRESS = "127.0.0.1"
    port = start_exporters_at_startup(get_config(), [], {})
    assert port == settings.PROMETHEUS_METRICS_EXPORT_PORT


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/openmetrics-text; version=abc"},
        {"Accept": "text/plain; version=a.b"},
        {"Accept": "application/openmetrics-text; version=1.x"},
        {"Accept": ";;;"},
        {"Accept": "*/*; version=\u00e9"},
        {"Accept": "application/openmetrics-text; version=abc; " + "x" * 5000},
        {"Accept-Encoding": "gzip; q=abc"},
        {"Accept-Encoding": "gzip;" * 2000},
    ],
)
@pytest.mark.usefixtures("probe", "server_argv")
def test_a_malformed_accept_gets_an_answer_on_the_port(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    exporter = start_port_exporter(0, "127.0.0.1")
    status, answered, body = fetch(f"http://127.0.0.1:{exporter.port}/metrics", headers)
    assert status == 200
    assert answered["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    if answered.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    assert probe_value(body) == 7.0
    assert "failed while recording" not in caplog.text


# --- the established package's patch point: django_prometheus.exports.HTTPServer -----------


@pytest.mark.usefixtures("server_argv")
def test_port_range_constructs_exports_httpserver_in_order() -> None:
    with mock.patch("django_prometheus.exports.HTTPServer") as server_class:
        server_class.side_effect = [OSError("taken"), mock.MagicMock()]
        assert SetupPrometheusEndpointOnPortRange([8000, 8001]) == 8001
    assert server_class.mock_calls == [
        mock.call(("", 8000), port_exporter.MetricsHandler),
        mock.call(("", 8001), port_exporter.MetricsHandler),
    ]


@pytest.mark.usefixtures("server_argv")
def test_port_range_with_every_exports_httpserver_failing() -> None:
    with mock.patch("django_prometheus.exports.HTTPServer") as server_class:
        server_class.side_effect = [OSError("taken"), OSError("taken")]
        assert SetupPrometheusEndpointOnPortRange([8000, 8001], addr="127.0.0.1") is None
    assert server_class.mock_calls == [
        mock.call(("127.0.0.1", 8000), port_exporter.MetricsHandler),
        mock.call(("127.0.0.1", 8001), port_exporter.MetricsHandler),
    ]


@pytest.mark.usefixtures("server_argv")
def test_single_port_constructs_exports_httpserver() -> None:
    with mock.patch("django_prometheus.exports.HTTPServer") as server_class:
        SetupPrometheusEndpointOnPort(8002, addr="127.0.0.1")
    assert server_class.mock_calls[0] == mock.call(
        ("127.0.0.1", 8002), port_exporter.MetricsHandler
    )


def test_exports_httpserver_is_an_http_server_class() -> None:
    assert issubclass(exports.HTTPServer, http.server.HTTPServer)
