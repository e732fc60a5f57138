"""Helpers of the system tests: ports, subprocesses of the test Python, server lifecycles.

Everything here runs on loopback only and is bounded in time: every wait has a
deadline, every started process is stopped (its whole process group) by the
fixture that started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Final, Literal

from prometheus_client.parser import text_string_to_metric_families

from django_prometheus.multiprocess_compaction import parse_name

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SYSTEM_DIR: Final = Path(__file__).resolve().parent
MANAGE_PY: Final = SYSTEM_DIR / "manage.py"
PYTHON: Final = sys.executable
BIN_DIR: Final = Path(sys.executable).parent
LOOPBACK: Final = "127.0.0.1"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


def accepts_connections(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python: repository importable, nothing inherited by accident."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PROMETHEUS_", "DJP_BAD_", "PYTEST_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_python(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run the test interpreter with ``args`` from the repository root, bounded in time."""
    return subprocess.run(
        [PYTHON, *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group of ``process``, then SIGKILL what is left after ``grace``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children (workers) may outlive a master that died; the group is ours either way.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# --- Scrapes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


class Scrape:
    """The samples of one ``/metrics`` answer, looked up by sample name and exact labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[Sample] = [
            Sample(sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
        self.family_types: dict[str, str] = {
            family.name: family.type for family in text_string_to_metric_families(text)
        }

    def series(self, name: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.name == name]

    def value(self, name: str, **labels: str) -> float:
        """The value of the series with exactly these labels; 0 when it does not exist."""
        found = [sample.value for sample in self.series(name) if sample.labels == labels]
        if len(found) > 1:
            raise AssertionError(f"{name}{labels} appears {len(found)} times")
        return found[0] if found else 0.0

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of ``name`` whose labels include ``labels``."""
        return sum(
            sample.value
            for sample in self.series(name)
            if all(sample.labels.get(key) == value for key, value in labels.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {sample.labels[label] for sample in self.series(name) if label in sample.labels}

    def by_labels(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        """``{(label values…): summed value}`` over the series of ``name``."""
        grouped: dict[tuple[str, ...], float] = {}
        for sample in self.series(name):
            key = tuple(sample.labels.get(label, "") for label in labels)
            grouped[key] = grouped.get(key, 0.0) + sample.value
        return grouped


# --- HTTP clients -----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of a planned run."""

    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    error: str = ""


@dataclass(frozen=True)
class RunResult:
    answers: list[Answer]
    seconds: float
    concurrency: int

    @property
    def errors(self) -> list[str]:
        return [answer.error for answer in self.answers if answer.error]

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for answer in self.answers:
            counts[answer.status] = counts.get(answer.status, 0) + 1
        return counts

    @property
    def per_second(self) -> float:
        return len(self.answers) / self.seconds if self.seconds else 0.0


def request_once(
    port: int, call: Call, timeout: float = 30.0, connection: HTTPConnection | None = None
) -> Answer:
    own = connection is None
    conn = HTTPConnection(LOOPBACK, port, timeout=timeout) if connection is None else connection
    try:
        conn.request(call.method, call.path, body=call.body, headers=dict(call.headers))
        response = conn.getresponse()
        return Answer(response.status, response.read())
    except (OSError, HTTPException) as error:
        conn.close()
        return Answer(0, b"", f"{type(error).__name__}: {error}")
    finally:
        if own:
            conn.close()


def run_calls(
    port: int,
    calls: Sequence[Call],
    concurrency: int,
    timeout: float = 30.0,
    total_timeout: float = 300.0,
) -> RunResult:
    """Send exactly ``calls`` from ``concurrency`` threads (each keeps one connection).

    Every call is sent once; an answer that never came is an ``Answer`` with status 0
    and the error, never a retry, so the server saw at most ``len(calls)`` requests.
    ``timeout`` bounds each request, ``total_timeout`` the whole run.
    """
    answers: list[Answer | None] = [None] * len(calls)
    indices = iter(range(len(calls)))
    lock = threading.Lock()

    def worker() -> None:
        conn = HTTPConnection(LOOPBACK, port, timeout=timeout)
        try:
            while True:
                with lock:
                    index = next(indices, None)
                if index is None:
                    return
                answers[index] = request_once(port, calls[index], timeout, conn)
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    # Bounded: a stuck server fails the test instead of hanging the run.
    deadline = started + total_timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            raise TimeoutError(f"{len(calls)} requests did not finish before the deadline")
    seconds = time.monotonic() - started
    return RunResult(
        [answer or Answer(0, b"", "not sent") for answer in answers], seconds, concurrency
    )


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes (for requests no client library would write) and read until close."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            # One response is all we asked for: stop at the end of its headers + body.
            joined = b"".join(chunks)
            if _response_complete(joined):
                return joined
    return b"".join(chunks)


def _response_complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False


def raw_status(response: bytes) -> int:
    """The status code of a raw HTTP response (0 when there was none)."""
    parts = response.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return 0
    try:
        return int(parts[1])
    except ValueError:
        return 0


# --- Processes --------------------------------------------------------------------------


def worker_pids(master_pid: int) -> list[int]:
    """The live child processes of ``master_pid`` (read from /proc)."""
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after it.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == master_pid and fields[0] != "Z":
            children.append(int(entry.name))
    return sorted(children)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for pid {pid}")


# --- Servers ----------------------------------------------------------------------------

WORKER_ALIVE_METRIC: Final = "systemtest_worker_alive"
START_TIMEOUT: Final = 90.0


def migrate_sqlite(path: Path) -> None:
    """Create and migrate the project's SQLite file with plain Django (no instrumentation)."""
    env = child_env(
        {
            "DJANGO_SETTINGS_MODULE": "tests.system.project.settings",
            "DJP_SYSTEM_SQLITE": str(path),
            "DJP_SYSTEM_PLAIN": "1",
        }
    )
    done = run_python([str(MANAGE_PY), "migrate", "--no-input", "-v", "0"], env, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")


@dataclass
class Server:
    """A running gunicorn or uvicorn serving the system-test project on loopback."""

    kind: Literal["gunicorn", "uvicorn"]
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int
    multiproc_dir: Path | None
    plain: bool = False
    # DJP_SYSTEM_NO_GAUGES: no worker-alive gauge, so readiness looks for each worker's
    # counter file instead (written when the worker loads the project).
    gauges: bool = True
    # Requests the harness itself sent (readiness checks and scrapes), all to /metrics.
    scrapes: int = 0
    # Readiness answers other than 200: each is a failed scrape a user would see too.
    odd_answers: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 30.0) -> Answer:
        return request_once(self.port, Call("GET", path), timeout)

    def scrape(self, timeout: float = 30.0) -> Scrape:
        """One scrape of ``/metrics`` (counted in ``scrapes``: the middlewares see it too)."""
        self.scrapes += 1
        answer = self.get("/metrics", timeout)
        if answer.status != 200:
            raise AssertionError(
                f"/metrics answered {answer.status} {answer.error}: {answer.body!r}"
            )
        return Scrape(answer.body.decode())

    def worker_pids(self) -> list[int]:
        if self.kind == "uvicorn" and self.workers == 1:
            return [self.pid]
        return worker_pids(self.pid)

    def live_worker_gauge_pids(self, scrape: Scrape) -> set[int]:
        return {int(pid) for pid in scrape.label_values(WORKER_ALIVE_METRIC, "pid")}

    def pids_with_counter_files(self) -> set[int]:
        assert self.multiproc_dir is not None
        return {
            parsed.pid
            for path in self.multiproc_dir.glob("counter_*.db")
            if (parsed := parse_name(path.name)) is not None
        }

    def wait_until_all_workers_serve(self, timeout: float = START_TIMEOUT) -> None:
        """Until every worker (multiprocess: each one's live gauge) is up and /metrics answers."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.process.returncode}:\n{self.log()}"
                )
            if accepts_connections(self.port, timeout=0.5):
                if self.plain:
                    # Plain Django has no /metrics; any answer of a view will do.
                    if self.get("/ok/", timeout=10.0).status == 200:
                        return
                    continue
                answer = request_once(self.port, Call("GET", "/metrics"), timeout=10.0)
                if answer.status or not answer.error:
                    self.scrapes += 1
                    if answer.status != 200:
                        self.odd_answers.append(
                            f"/metrics answered {answer.status} {answer.error}: {answer.body!r}"
                        )
                if answer.status == 200:
                    if self.multiproc_dir is None:
                        return
                    pids = self.worker_pids()
                    if self.gauges:
                        alive = self.live_worker_gauge_pids(Scrape(answer.body.decode()))
                    else:
                        alive = self.pids_with_counter_files() & set(pids)
                    if len(pids) == self.workers and alive == set(pids):
                        return
                    last = f"workers {pids}, live gauges {sorted(alive)}"
                else:
                    last = f"/metrics answered {answer.status} {answer.error}"
            time.sleep(0.2)
        raise TimeoutError(f"{self.kind} on port {self.port} not ready ({last}):\n{self.log()}")

    def stop(self) -> None:
        stop_process_group(self.process)


def start_server(
    kind: Literal["gunicorn", "uvicorn"],
    work_dir: Path,
    sqlite_template: Path,
    *,
    workers: int = 1,
    multiprocess: bool = False,
    env: Mapping[str, str] | None = None,
    server_args: Sequence[str] = (),
) -> Server:
    """Start the project under ``kind`` on a free loopback port and wait until it serves.

    The caller must ``stop()`` it (the fixtures do, in a ``finally``).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    database = work_dir / "db.sqlite3"
    shutil.copyfile(sqlite_template, database)
    port = free_port()
    extra = {
        "DJANGO_SETTINGS_MODULE": "tests.system.project.settings",
        "DJP_SYSTEM_SQLITE": str(database),
        **(env or {}),
    }
    multiproc_dir: Path | None = None
    if multiprocess:
        multiproc_dir = work_dir / "multiproc"
        multiproc_dir.mkdir()
        extra["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    plain = extra.get("DJP_SYSTEM_PLAIN") == "1"
    if kind == "gunicorn":
        # Our hooks module is the whole gunicorn configuration, as the docs suggest.
        hooks = [] if plain else ["--config", "python:django_prometheus.gunicorn"]
        command = [
            PYTHON, "-m", "gunicorn", "tests.system.project.wsgi:application",
            *hooks,
            "--bind", f"{LOOPBACK}:{port}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--timeout", "60",
            "--graceful-timeout", "5",
            "--log-level", "warning",
            *server_args,
        ]  # fmt: skip
    else:
        command = [
            PYTHON, "-m", "uvicorn", "tests.system.project.asgi:application",
            "--host", LOOPBACK,
            "--port", str(port),
            "--workers", str(workers),
            "--lifespan", "off",
            "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
    log_path = work_dir / f"{kind}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=child_env(extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gauges = extra.get("DJP_SYSTEM_NO_GAUGES") != "1"
    server = Server(kind, port, process, log_path, workers, multiproc_dir, plain, gauges)
    try:
        server.wait_until_all_workers_serve()
    except BaseException:
        server.stop()
        raise
    return server


# --- Prometheus tools -------------------------------------------------------------------

PROMTOOL: Final = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS: Final = shutil.which("prometheus") or "/usr/bin/prometheus"


def promtool_findings(exposition: str) -> list[str]:
    """``promtool check metrics`` findings for an exposition text, one line each."""
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    # 0: clean; 3: lint findings only. Anything else is a parse error of our output.
    if done.returncode not in (0, 3):
        raise AssertionError(f"promtool failed ({done.returncode}): {findings}")
    return findings
