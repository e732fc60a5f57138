"""SIGKILL during compactions and scrapes of a multiprocess directory: totals stay exact.

One subprocess writes the directory with real prometheus_client multiprocess values,
claiming a pid per share: counters, a histogram, a summary and a gauge of every mode,
each with known values. Copies of it are then compacted and scraped by children of
:mod:`tests.system.compaction_processes`, which are SIGKILLed:

* before a chosen file-system step of the compaction (every kind of step: removing live
  gauges, moving the files to fold aside, creating, writing, fsyncing and renaming the
  temporary archive, removing folded files), so each crash state is reached for certain;
* after a seeded random delay, so kills also land where nobody chose;
* while scraping (after a random delay, or holding the shared lock).

After every kill: the lock is free, a scrape in a new process (bounded in time: a lock left
held would make it hang) shows exactly what was written, as does a scrape that was waiting
for the killed compaction; in a copy of what the kill left, new processes that get the
dead pids (before any other compaction) count once, also after a compaction; a second
compaction is killed at a random point too, and then one
that completes leaves the exact totals, the archives, the ``all`` gauges and the live
process's untouched files, and no temporary file.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from django_prometheus.multiprocess_compaction import (
    ARCHIVE_SUFFIX,
    LOCK_NAME,
    STAGING_NAME,
    FileIdentity,
    folded_identities,
    parse_name,
)
from tests.system.conftest import Figures
from tests.system.harness import PYTHON, REPO_ROOT, child_env, run_python, stop_process_group

# Only in CI's Django 5.2 leg: prometheus_client files and our compaction, the same on
# every Django line.
pytestmark = pytest.mark.django_independent

SEED: Final = 14
VIEWS: Final = 6
DEAD_PROCESSES: Final = 9
LIVE_MODES: Final = ("liveall", "livesum", "livemin", "livemax", "livemostrecent")
GAUGE_MODES: Final = ("sum", "min", "max", "mostrecent", "all", *LIVE_MODES)
BUCKETS: Final = (0.5, 1.0, 2.0)
FIRST_PID: Final = 70_001
ARCHIVES: Final = frozenset(
    {
        "counter_archive.db",
        "histogram_archive.db",
        "summary_archive.db",
        "gauge_sum_archive.db",
        "gauge_min_archive.db",
        "gauge_max_archive.db",
        "gauge_mostrecent_archive.db",
    }
)
# Kills before a chosen step (per kind of step and way of compacting), after a random delay,
# and of scrapes.
STEPS_PER_PHASE: Final = 2
DELAY_KILLS: Final = 16
SCRAPE_KILLS: Final = 8
# A child that does not finish in this time is waiting for a lock nobody holds any more.
CHILD_TIMEOUT: Final = 30.0

WRITER: Final = """
import json, sys, time
from prometheus_client import values
order = json.loads(sys.argv[1])
views = int(sys.argv[2])
claimed = [order[0][0]]
# Each share is written as if by its own process: prometheus_client reopens its files
# whenever the pid it is given changes (as after a fork).
values.ValueClass = values.MultiProcessValue(lambda: claimed[0])
from prometheus_client import Counter, Gauge, Histogram, Summary
requests = Counter("killtest_requests", "Requests.", ["view", "method"])
seconds = Histogram("killtest_seconds", "Durations.", ["view"], buckets=(0.5, 1.0, 2.0))
sizes = Summary("killtest_bytes", "Sizes.")
gauges = [
    Gauge("killtest_" + mode, "A gauge.", ["view"], multiprocess_mode=mode)
    for mode in sys.argv[3].split(",")
]
for pid, share in order:
    claimed[0] = pid
    for j in range(views):
        view = "v%d" % j
        requests.labels(view, "GET").inc(share * (j + 1))
        requests.labels(view, "POST").inc(2 * share * (j + 1))
        seconds.labels(view).observe(share * 0.125)
        for gauge in gauges:
            gauge.labels(view).set(share * 100 + j)
    sizes.observe(share * 8)
    time.sleep(0.002)  # a later pid's mostrecent gauges carry a later timestamp
"""

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Written:
    """What the writer wrote: (pid, share) in the order of writing; one pid stays 'live'."""

    order: tuple[tuple[int, int], ...]
    live_pid: int

    @property
    def dead_pids(self) -> list[int]:
        return sorted(pid for pid, _ in self.order if pid != self.live_pid)


def expected_series(written: Written, live_gauge_pids: Mapping[str, Collection[int]]) -> Series:
    """The exact scrape of what was written, whatever is folded; the ``live*`` gauges of
    the pids in ``live_gauge_pids[mode]`` only (those of an exited process may be gone)."""
    series: Series = {}

    def put(name: str, value: float, **labels: str) -> None:
        series[(name, tuple(sorted(labels.items())))] = float(value)

    shares = [share for _, share in written.order]
    for j in range(VIEWS):
        view = f"v{j}"
        put("killtest_requests_total", sum(shares) * (j + 1), view=view, method="GET")
        put("killtest_requests_total", 2 * sum(shares) * (j + 1), view=view, method="POST")
        observed = [share * 0.125 for share in shares]
        for bound in BUCKETS:
            put(
                "killtest_seconds_bucket",
                sum(o <= bound for o in observed),
                view=view,
                le=str(bound),
            )
        put("killtest_seconds_bucket", len(observed), view=view, le="+Inf")
        put("killtest_seconds_count", len(observed), view=view)
        put("killtest_seconds_sum", sum(observed), view=view)
        for mode in GAUGE_MODES:
            # In the order of writing, so the last one is the most recent.
            values = [
                (pid, share * 100 + j)
                for pid, share in written.order
                if mode not in LIVE_MODES or pid in live_gauge_pids[mode]
            ]
            name = f"killtest_{mode}"
            rule = mode.removeprefix("live")
            if rule == "all":
                for pid, value in values:
                    put(name, value, view=view, pid=str(pid))
            elif rule == "sum":
                put(name, sum(value for _, value in values), view=view)
            elif rule == "min":
                put(name, min(value for _, value in values), view=view)
            elif rule == "max":
                put(name, max(value for _, value in values), view=view)
            else:
                put(name, values[-1][1], view=view)
    put("killtest_bytes_count", len(shares))
    put("killtest_bytes_sum", 8 * sum(shares))
    return series


def parse(text: str) -> Series:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def live_gauge_pids(directory: Path) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {mode: set() for mode in LIVE_MODES}
    for name in os.listdir(directory):
        parsed = parse_name(name)
        if parsed is not None and parsed.prefix.startswith("gauge_live"):
            found[parsed.prefix.removeprefix("gauge_")].add(parsed.pid)
    return found


def temporary_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def lock_is_free(directory: Path) -> bool:
    """Whether an exclusive lock on the directory's lock file is granted at once."""
    path = directory / LOCK_NAME
    if not path.exists():
        return True
    with path.open("rb") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return True


def identity(directory: Path, name: str) -> FileIdentity:
    info = os.stat(directory / name)
    return FileIdentity(name, info.st_ino, info.st_size, info.st_mtime_ns)


class Forker:
    """The client of a ``tests.system.compaction_processes`` server."""

    def __init__(self, log_path: Path, warm_up: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "tests.system.compaction_processes", str(warm_up)],
                cwd=REPO_ROOT,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                bufsize=0,
            )
        self._pending = b""
        ready = self._answer(CHILD_TIMEOUT)
        assert ready == {"ready": True}, f"the fork server did not start:\n{self.log()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def _send(self, request: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")

    def _answer(self, timeout: float) -> dict[str, Any] | None:
        import select

        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self.process.stdout], [], [], max(0.0, remaining))
            if not readable:
                return None
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"the fork server exited:\n{self.log()}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def start(self, task: str, **arguments: object) -> int:
        self._send({"task": task, **arguments})
        answer = self._answer(CHILD_TIMEOUT)
        assert answer is not None, f"no fork in {CHILD_TIMEOUT} s:\n{self.log()}"
        pid: int = answer["pid"]
        return pid

    def reap(self, pid: int, timeout: float = CHILD_TIMEOUT) -> int:
        """The child's exit code (negative: the signal that ended it), within ``timeout``."""
        self._send({"reap": pid})
        answer = self._answer(timeout)
        if answer is None:
            os.kill(pid, signal.SIGKILL)  # not reaped yet, so still our child's pid
            self._answer(CHILD_TIMEOUT)
            raise AssertionError(f"child {pid} did not finish in {timeout} s (a lock left held?)")
        code: int = answer["code"]
        return code

    def run(self, task: str, **arguments: object) -> int:
        return self.reap(self.start(task, **arguments))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_process_group(self.process)


@dataclass
class Lab:
    """The written template, the fork server and a scratch directory for the copies."""

    template: Path
    written: Written
    forker: Forker
    scratch: Path
    copies: int = 0

    @contextlib.contextmanager
    def fresh_copy(self) -> Iterator[Path]:
        """A copy of the template, removed afterwards."""
        self.copies += 1
        directory = self.scratch / f"copy{self.copies}" / "metrics"
        shutil.copytree(self.template, directory)
        yield directory
        shutil.rmtree(directory.parent)

    def out(self, directory: Path, what: str) -> Path:
        return directory.parent / f"{what}.json"

    @functools.cached_property
    def reused_key(self) -> str:
        """prometheus_client's key of :data:`REUSED_SERIES` in a counter file."""
        live_counter = str(self.template / f"counter_{self.written.live_pid}.db")
        rows = MmapedDict.read_all_values_from_file(live_counter)  # type: ignore[no-untyped-call]
        for key, *_ in rows:
            # [metric, sample, {labels}, help] from 0.21 on; before: names and values apart.
            _, name, *parts = json.loads(key)
            if isinstance(parts[0], dict):
                labels = tuple(sorted(parts[0].items()))
            else:
                labels = tuple(sorted(zip(parts[0], parts[1], strict=True)))
            if (f"{name}_total", labels) == REUSED_SERIES or (name, labels) == REUSED_SERIES:
                return str(key)
        raise AssertionError(f"no key of {REUSED_SERIES} in {live_counter}")

    def scrape(self, directory: Path) -> Series:
        """A scrape in a new process, bounded in time."""
        out = self.out(directory, "scrape")
        out.unlink(missing_ok=True)
        code = self.forker.run("scrape", path=str(directory), out=str(out))
        assert code == 0, self.forker.log()
        return parse(out.read_text())

    def assert_exact(self, directory: Path) -> None:
        assert self.scrape(directory) == expected_series(self.written, live_gauge_pids(directory))

    def complete(self, directory: Path) -> dict[str, Any]:
        """A compaction that completes; then exact totals and only the files that stay."""
        out = self.out(directory, "complete")
        code = self.forker.run(
            "compact", path=str(directory), pids=self.written.dead_pids, out=str(out)
        )
        assert code == 0, self.forker.log()
        live = self.written.live_pid
        assert self.scrape(directory) == expected_series(
            self.written, {mode: {live} for mode in LIVE_MODES}
        )
        live_files = sorted(
            name for name in os.listdir(self.template) if name.endswith(f"_{live}.db")
        )
        kept = {f"gauge_all_{pid}.db" for pid in self.written.dead_pids}
        assert sorted(os.listdir(directory)) == sorted({LOCK_NAME, *ARCHIVES, *kept, *live_files})
        # The live process's files are not touched.
        for name in live_files:
            assert (directory / name).read_bytes() == (self.template / name).read_bytes(), name
        report: dict[str, Any] = json.loads(out.read_text())
        return report


def write_template(directory: Path) -> Written:
    rng = random.Random(SEED)
    shares = list(range(1, DEAD_PROCESSES + 2))
    rng.shuffle(shares)
    order = tuple((FIRST_PID + index, share) for index, share in enumerate(shares))
    # Neither the first nor the last writer, so its mostrecent gauges are not the latest.
    written = Written(order, live_pid=order[len(order) // 2][0])
    directory.mkdir()
    done = run_python(
        ["-c", WRITER, json.dumps(order), str(VIEWS), ",".join(GAUGE_MODES)],
        child_env({"PROMETHEUS_MULTIPROC_DIR": str(directory)}),
    )
    assert done.returncode == 0, done.stderr
    return written


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # Memory-backed where there is one (as /run, where multiprocess directories usually
    # are): a kill leaves the page cache as it was on any file system, and each copy is
    # made in milliseconds.
    base = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path_factory.getbasetemp())
    scratch = Path(tempfile.mkdtemp(prefix="djp-compaction-kills-", dir=base))
    try:
        template = scratch / "template"
        written = write_template(template)
        shutil.copytree(template, scratch / "warm-up")
        forker = Forker(
            tmp_path_factory.mktemp("compaction-kills") / "fork-server.log", scratch / "warm-up"
        )
        try:
            yield Lab(template, written, forker, scratch)
        finally:
            forker.close()
    finally:
        shutil.rmtree(scratch)


def stock_scrape(directory: Path) -> Series:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return parse(generate_latest(registry).decode())


def phase_of(step: str) -> str:
    kind, _, name = step.partition(" ")
    if kind == "replace":
        return "replace" if name.endswith(ARCHIVE_SUFFIX) else "move aside"
    if kind != "unlink":
        return kind
    if name.startswith("gauge_live"):
        return "drop live gauge"
    return "remove stale temporary" if name.endswith(".tmp") else "remove folded file"


@dataclass(frozen=True)
class Calibration:
    """The steps of a whole compaction of the template and the time it takes: one
    ``compact_pids`` of every dead pid (False) or a ``compact_dead`` per pid (True); times
    are medians of three."""

    steps: Mapping[bool, list[str]]
    seconds: Mapping[bool, float]
    scrape_seconds: float


@pytest.fixture(scope="module")
def calibration(lab: Lab) -> Calibration:
    steps: dict[bool, list[str]] = {}
    seconds: dict[bool, float] = {}
    for one_by_one in (False, True):
        durations = []
        for _ in range(3):
            with lab.fresh_copy() as directory:
                out = lab.out(directory, "dry")
                begun = time.monotonic()
                code = lab.forker.run(
                    "compact",
                    path=str(directory),
                    pids=lab.written.dead_pids,
                    one_by_one=one_by_one,
                    out=str(out),
                )
                durations.append(time.monotonic() - begun)
                assert code == 0, lab.forker.log()
                done = json.loads(out.read_text())["steps"]
                assert steps.setdefault(one_by_one, done) == done
                lab.complete(directory)
        seconds[one_by_one] = statistics.median(durations)
    durations = []
    for _ in range(3):
        with lab.fresh_copy() as directory:
            begun = time.monotonic()
            lab.scrape(directory)
            durations.append(time.monotonic() - begun)
    return Calibration(steps, seconds, statistics.median(durations))


def kill_compaction(
    lab: Lab, directory: Path, one_by_one: bool, kill_before: int | None, delay: float
) -> int:
    """Start a compaction and a scrape, SIGKILL the compaction (before step ``kill_before``
    or after ``delay`` seconds); check the scrape, the lock and a new scrape; the exit code."""
    written = lab.written
    compaction = lab.forker.start(
        "compact",
        path=str(directory),
        pids=written.dead_pids,
        one_by_one=one_by_one,
        kill_before=kill_before,
    )
    # A scrape that waits for the compaction's lock (or takes it first).
    waiting_out = lab.out(directory, "waiting")
    waiting = lab.forker.start("scrape", path=str(directory), out=str(waiting_out))
    if kill_before is None:
        time.sleep(delay)
        os.kill(compaction, signal.SIGKILL)  # not reaped yet: still our child, or a zombie
    code = lab.forker.reap(compaction)
    assert lab.forker.reap(waiting) == 0, lab.forker.log()
    assert lock_is_free(directory)
    # The waiting scrape saw the directory as the kill left it, or before the compaction,
    # or between two (pid by pid): all that was written, and the live gauges of the pids
    # not compacted yet.
    waited = parse(waiting_out.read_text())
    seen = {int(dict(labels)["pid"]) for name, labels in waited if name == "killtest_liveall"}
    assert live_gauge_pids(directory)["liveall"] <= seen
    assert waited in (
        expected_series(written, live_gauge_pids(directory)),
        expected_series(written, dict.fromkeys(LIVE_MODES, seen)),
    )
    lab.assert_exact(directory)
    check_reused_pids(lab, directory)
    return code


# The series a new process under a reused pid counts on: (view v0, method GET).
REUSED_SERIES: Final = ("killtest_requests_total", (("method", "GET"), ("view", "v0")))


def check_reused_pids(lab: Lab, directory: Path) -> None:
    """In a copy of ``directory`` as a kill left it, a new process gets each dead pid and
    counts 1 on one series, as prometheus_client does (it opens ``counter_<pid>.db``, takes
    the value found there and adds to it): every value counts once, and still after a
    compaction that completes."""
    copy = directory.parent / "reused"

    def copy_file(source: str, target: str) -> None:
        # Moved-aside files are known by their inode: link them (nothing writes them).
        if STAGING_NAME in source:
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    shutil.copytree(directory, copy, copy_function=copy_file)
    try:
        key = lab.reused_key
        for pid in lab.written.dead_pids:
            table = MmapedDict(str(copy / f"counter_{pid}.db"))  # type: ignore[no-untyped-call]
            try:
                value, timestamp = table.read_value(key)  # type: ignore[no-untyped-call]
                table.write_value(key, value + 1, timestamp)  # type: ignore[no-untyped-call]
            finally:
                table.close()  # type: ignore[no-untyped-call]
        expected = expected_series(lab.written, live_gauge_pids(copy))
        expected[REUSED_SERIES] += len(lab.written.dead_pids)
        assert lab.scrape(copy) == expected
        assert lab.forker.run("compact", path=str(copy), pids=lab.written.dead_pids) == 0
        assert lab.scrape(copy)[REUSED_SERIES] == expected[REUSED_SERIES]
    finally:
        shutil.rmtree(copy)


def recover(lab: Lab, directory: Path, delay: float) -> dict[str, Any]:
    """The next compaction is killed too, after ``delay`` seconds; then one completes."""
    recovery = lab.forker.start("compact", path=str(directory), pids=lab.written.dead_pids)
    time.sleep(delay)
    os.kill(recovery, signal.SIGKILL)
    assert lab.forker.reap(recovery) in (0, -signal.SIGKILL)
    assert lock_is_free(directory)
    lab.assert_exact(directory)
    return lab.complete(directory)


def test_the_expected_totals_are_prometheus_clients_reading(lab: Lab) -> None:
    everything = {mode: {pid for pid, _ in lab.written.order} for mode in LIVE_MODES}
    assert stock_scrape(lab.template) == expected_series(lab.written, everything)
    # Counter, histogram, summary and one gauge file per mode, for every pid.
    assert len(os.listdir(lab.template)) == (DEAD_PROCESSES + 1) * (3 + len(GAUGE_MODES))


def test_a_compaction_killed_before_any_of_its_steps_leaves_exact_totals(
    lab: Lab, calibration: Calibration, figures: Figures
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    kills: list[tuple[bool, int]] = []
    for one_by_one, steps in calibration.steps.items():
        by_phase: dict[str, list[int]] = {}
        for number, step in enumerate(steps, start=1):
            by_phase.setdefault(phase_of(step), []).append(number)
        assert set(by_phase) == {
            "drop live gauge", "move aside", "mkstemp", "write", "fsync", "chmod", "replace",
            "remove folded file",
        }  # fmt: skip
        for numbers in by_phase.values():
            kills += [(one_by_one, number) for number in rng.sample(numbers, STEPS_PER_PHASE)]
    phases: Counter[str] = Counter()
    for one_by_one, number in kills:
        steps = calibration.steps[one_by_one]
        step = steps[number - 1]
        phases[phase_of(step)] += 1
        with lab.fresh_copy() as directory:
            code = kill_compaction(lab, directory, one_by_one, number, 0.0)
            assert code == -signal.SIGKILL
            # A temporary archive is left exactly when the kill came between its creation
            # and its rename.
            done = steps[: number - 1]
            created = max((i for i, s in enumerate(done) if s.startswith("mkstemp")), default=-1)
            renamed = max((i for i, s in enumerate(done) if s.startswith("replace")), default=-1)
            assert len(temporary_files(directory)) == (1 if created > renamed else 0)
            if phase_of(step) == "remove folded file":
                # Folded into a renamed archive, not removed yet: the archive lists it, so
                # scrapes skip it, and the next compaction removes it.
                name = step.partition(" ")[2]
                moved = os.path.join(STAGING_NAME, name)
                assert identity(directory, moved) in folded_identities(str(directory))
                assert name in lab.complete(directory)["reports"][0]["finished"]
            else:
                recover(lab, directory, rng.uniform(0, calibration.seconds[False]))
    figures.add("kills", len(kills))
    for phase, count in sorted(phases.items()):
        figures.add(f"kills before '{phase}'", count)
    figures.add("steps of one compaction of every pid", len(calibration.steps[False]))
    figures.add("steps of a compaction per pid", len(calibration.steps[True]))
    figures.add("seconds", time.monotonic() - started)


def test_a_compaction_killed_at_random_moments_leaves_exact_totals(
    lab: Lab, calibration: Calibration, figures: Figures
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED + 1)
    states: Counter[str] = Counter()
    for index in range(DELAY_KILLS):
        one_by_one = index % 2 == 1
        delay = rng.uniform(0, 0.9 * calibration.seconds[one_by_one])
        with lab.fresh_copy() as directory:
            code = kill_compaction(lab, directory, one_by_one, None, delay)
            assert code in (0, -signal.SIGKILL)
            states[crash_state(directory, code, lab.template)] += 1
            recover(lab, directory, rng.uniform(0, calibration.seconds[False]))
    figures.add("kills", DELAY_KILLS)
    for state, count in sorted(states.items()):
        figures.add(state, count)
    figures.add("ms per compaction of every pid", calibration.seconds[False] * 1000)
    figures.add("ms per compaction pid by pid", calibration.seconds[True] * 1000)
    figures.add("seconds", time.monotonic() - started)


def test_a_scrape_killed_releases_the_lock_and_changes_nothing(
    lab: Lab, calibration: Calibration, figures: Figures
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED + 2)
    for index in range(SCRAPE_KILLS):
        with lab.fresh_copy() as directory:
            if index % 2:
                # Archives, and files they list, for the scrape to read.
                half = lab.written.dead_pids[: DEAD_PROCESSES // 2]
                assert lab.forker.run("compact", path=str(directory), pids=half) == 0
            in_lock = index < SCRAPE_KILLS // 2
            scraper = lab.forker.start(
                "scrape", path=str(directory), repeat=10**6, kill_in_lock=in_lock
            )
            if not in_lock:
                time.sleep(rng.uniform(0, 3 * calibration.scrape_seconds))
                os.kill(scraper, signal.SIGKILL)
            assert lab.forker.reap(scraper) == -signal.SIGKILL
            assert lock_is_free(directory)
            lab.assert_exact(directory)
            # A compaction takes the exclusive lock: it would hang on a shared one left held.
            lab.complete(directory)
    figures.add("kills", SCRAPE_KILLS)
    figures.add("ms per scrape", calibration.scrape_seconds * 1000)
    figures.add("seconds", time.monotonic() - started)


def crash_state(directory: Path, code: int, template: Path) -> str:
    """What a kill after a random delay left, for the figures."""
    if code == 0:
        return "finished before the kill"
    names = os.listdir(directory)
    if temporary_files(directory):
        return "killed while writing an archive"
    staging = directory / STAGING_NAME
    moved = [os.path.join(STAGING_NAME, n) for n in os.listdir(staging)] if staging.exists() else []
    folded = folded_identities(str(directory))
    if any(identity(directory, name) in folded for name in moved):
        return "killed between an archive's rename and the removals"
    if moved:
        return "killed with files moved aside, not in an archive yet"
    if any(name in ARCHIVES for name in names):
        return "killed between archives"
    if len([name for name in names if name.endswith(".db")]) < len(os.listdir(template)):
        return "killed after dropping live gauges"
    return "killed before any change"
