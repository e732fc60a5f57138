"""The fast multiprocess scrape writes exactly what prometheus_client's merge and encoder
write, over generated directories and across scrapes that change them: values moved in
place, keys appended, processes appearing and disappearing, a pid's name reused by a new
file, and compactions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import choose_encoder
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from django_prometheus import state
from django_prometheus.exposition import render_metrics
from django_prometheus.exposition.merge import render_multiprocess
from django_prometheus.multiprocess import MultiProcessRegistry, multiprocess_registry
from django_prometheus.multiprocess_compaction import compact_pids
from tests.unit.test_exposition_render import PROMETHEUS_2, PROMETHEUS_3

# Only in CI's Django 5.2 leg: prometheus_client's merge and encoder, the same on every Django line.
pytestmark = pytest.mark.django_independent

SCRAPES: Final = (PROMETHEUS_3, PROMETHEUS_2, "", "text/plain;version=0.0.4")
GAUGE_MODES: Final = (
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
)
AWKWARD: Final = (
    0.0,
    -0.0,
    1.0,
    -1.5,
    0.1,
    1e-12,
    123456789.0,
    1e22,
    2.5e-300,
    float("nan"),
    float("inf"),
    float("-inf"),
)
LABEL_VALUES: Final = ("a", "b", "", 'q"uote', "back\\slash", "new\nline", "ünï", "a,b=c}")


@dataclass(frozen=True)
class Family:
    """A metric as the files of every process hold it."""

    kind: str  # counter, histogram, summary or gauge_<mode>
    name: str
    labels: tuple[str, ...]
    help_text: str

    @property
    def prefix(self) -> str:
        return self.kind

    def keys(self, label_values: tuple[str, ...]) -> list[str]:
        """The keys one child writes (histogram buckets in the order a child makes them)."""
        labels, values = list(self.labels), list(label_values)
        if self.kind == "counter":
            return [mmap_key(self.name, self.name + "_total", labels, values, self.help_text)]
        if self.kind == "summary":
            return [
                mmap_key(self.name, self.name + suffix, labels, values, self.help_text)
                for suffix in ("_count", "_sum")
            ]
        if self.kind == "histogram":
            keys = [mmap_key(self.name, self.name + "_sum", labels, values, self.help_text)]
            for le in ("0.005", "0.1", "1.0", "10.0", "+Inf"):
                keys.append(
                    mmap_key(
                        self.name,
                        self.name + "_bucket",
                        [*labels, "le"],
                        [*values, le],
                        self.help_text,
                    )
                )
            return keys
        return [mmap_key(self.name, self.name, labels, values, self.help_text)]


FAMILIES: Final = (
    Family("counter", "django_http_requests_total_by_view", ("view", "method"), "Requests.\n\\"),
    Family("counter", "plain_events", (), 'Events "quoted".'),
    Family("histogram", "latency_seconds", ("view",), "Latency."),
    Family("histogram", "sizes", (), "Sizes."),
    Family("summary", "work_seconds", ("job",), "Work."),
    *(
        Family(f"gauge_{mode}", f"gauge_{mode}_value", ("k",), f"A {mode} gauge.")
        for mode in GAUGE_MODES
    ),
)


class Directory:
    """A multiprocess directory written with prometheus_client's own file code."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tables: dict[str, MmapedDict] = {}

    def write(
        self, pid: int, family: Family, label_values: tuple[str, ...], value: float, stamp: float
    ) -> None:
        name = f"{family.prefix}_{pid}.db"
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = MmapedDict(str(self.path / name))  # type: ignore[no-untyped-call]
        for key in family.keys(label_values):
            table.write_value(key, value, stamp)  # type: ignore[no-untyped-call]

    def remove(self, pid: int) -> None:
        for name in [name for name in self.tables if name.endswith(f"_{pid}.db")]:
            self.tables.pop(name).close()  # type: ignore[no-untyped-call]
            (self.path / name).unlink()

    def close(self, pid: int) -> None:
        for name in [name for name in self.tables if name.endswith(f"_{pid}.db")]:
            self.tables.pop(name).close()  # type: ignore[no-untyped-call]

    def close_all(self) -> None:
        for table in self.tables.values():
            table.close()  # type: ignore[no-untyped-call]
        self.tables.clear()


def _assert_identical(registry: MultiProcessRegistry) -> None:
    for accept in SCRAPES:
        encoder, _ = choose_encoder(accept)
        expected = encoder(registry)
        fast = render_multiprocess(registry, "openmetrics" in accept)
        assert fast is not None, "the fast path fell back"
        assert fast.decode() == expected.decode()
        assert render_metrics(registry, accept=accept).body == expected


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    state.reset()
    written = Directory(tmp_path)
    yield written
    written.close_all()
    state.reset()


_writes = st.tuples(
    st.integers(min_value=1, max_value=4),  # pid
    st.sampled_from(FAMILIES),
    st.lists(st.sampled_from(LABEL_VALUES), min_size=2, max_size=2),
    st.sampled_from(AWKWARD) | st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from((0.0, 1.0, 5.0, 7.5, float("nan"))),
)
_steps = st.one_of(
    st.tuples(st.just("write"), st.lists(_writes, min_size=1, max_size=12)),
    st.tuples(st.just("exit"), st.integers(min_value=1, max_value=4)),  # files removed
    st.tuples(st.just("compact"), st.integers(min_value=1, max_value=4)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.lists(_writes, min_size=1, max_size=30),
    steps=st.lists(_steps, max_size=6),
)
def test_generated_directories_render_prometheus_clients_bytes_across_scrapes(
    directory: Directory,
    first: list[tuple[int, Family, list[str], float, float]],
    steps: list[tuple[str, object]],
) -> None:
    for old in directory.path.iterdir():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    directory.close_all()
    state.reset()
    registry = multiprocess_registry(str(directory.path))

    def write(batch: list[tuple[int, Family, list[str], float, float]]) -> None:
        for pid, family, label_values, value, stamp in batch:
            directory.write(pid, family, tuple(label_values[: len(family.labels)]), value, stamp)

    write(first)
    _assert_identical(registry)
    for action, argument in steps:
        if action == "write":
            assert isinstance(argument, list)
            write(argument)
        elif action == "exit":
            assert isinstance(argument, int)
            directory.remove(argument)
        else:
            assert isinstance(argument, int)
            directory.close(argument)
            compact_pids({argument}, str(directory.path))
        _assert_identical(registry)


def test_a_new_file_under_a_reused_name_is_read_as_itself(directory: Directory) -> None:
    """Same name, same size, other keys: the layout of the old file is not trusted."""
    registry = multiprocess_registry(str(directory.path))
    counter = FAMILIES[0]
    directory.write(7, counter, ("a", "GET"), 3.0, 0.0)
    _assert_identical(registry)
    directory.remove(7)
    directory.write(7, counter, ("b", "GET"), 5.0, 0.0)
    body = render_multiprocess(registry, False)
    assert body is not None
    assert b'django_http_requests_total_by_view_total{method="GET",view="b"} 5.0\n' in body
    assert b'view="a"' not in body
    _assert_identical(registry)


def test_values_moved_in_place_are_written_again(directory: Directory) -> None:
    registry = multiprocess_registry(str(directory.path))
    for pid in (1, 2):
        directory.write(pid, FAMILIES[0], ("a", "GET"), 1.0, 0.0)
        directory.write(pid, FAMILIES[2], ("a",), 2.0, 0.0)
    first = render_multiprocess(registry, False)
    directory.write(2, FAMILIES[0], ("a", "GET"), 41.0, 0.0)
    second = render_multiprocess(registry, False)
    assert first is not None
    assert second is not None
    assert b'django_http_requests_total_by_view_total{method="GET",view="a"} 2.0\n' in first
    assert b'django_http_requests_total_by_view_total{method="GET",view="a"} 42.0\n' in second
    assert render_multiprocess(registry, False) == second
    _assert_identical(registry)


def test_the_merge_keeps_nothing_of_files_that_are_gone(directory: Directory) -> None:
    registry = multiprocess_registry(str(directory.path))
    for pid in (1, 2, 3):
        directory.write(pid, FAMILIES[0], ("a", "GET"), 1.0, 0.0)
    _assert_identical(registry)
    merge = state.multiprocess_merges[str(directory.path)]
    assert sorted(Path(path).name for path in merge.layouts) == [
        "counter_1.db",
        "counter_2.db",
        "counter_3.db",
    ]
    directory.remove(1)
    directory.remove(2)
    _assert_identical(registry)
    assert [Path(path).name for path in merge.layouts] == ["counter_3.db"]


@pytest.mark.parametrize(
    ("case", "write"),
    [
        (
            "a name that needs escaping",
            lambda table: table.write_value(mmap_key("a:b", "a:b", [], [], "h"), 1.0, 0.0),
        ),
        (
            "a label name that needs escaping",
            lambda table: table.write_value(
                mmap_key("ab", "ab_total", ["x.y"], ["1"], "h"), 1.0, 0.0
            ),
        ),
        (
            "a sample the text format moves",
            lambda table: table.write_value(mmap_key("ab", "ab_created", [], [], "h"), 1.0, 0.0),
        ),
    ],
)
def test_what_it_does_not_reproduce_is_left_to_prometheus_client(
    directory: Directory, case: str, write: object
) -> None:
    table = MmapedDict(str(directory.path / "counter_1.db"))  # type: ignore[no-untyped-call]
    assert callable(write)
    write(table)
    table.close()  # type: ignore[no-untyped-call]
    registry = multiprocess_registry(str(directory.path))
    assert render_multiprocess(registry, False) is None, case
    for accept in SCRAPES:
        encoder, _ = choose_encoder(accept)
        assert render_metrics(registry, accept=accept).body == encoder(registry)


def test_a_gauge_written_in_two_modes_is_left_to_prometheus_client(directory: Directory) -> None:
    for mode in ("min", "max"):
        table = MmapedDict(str(directory.path / f"gauge_{mode}_1.db"))  # type: ignore[no-untyped-call]
        table.write_value(mmap_key("g", "g", [], [], "h"), 1.0, 0.0)  # type: ignore[no-untyped-call]
        table.close()  # type: ignore[no-untyped-call]
    registry = multiprocess_registry(str(directory.path))
    assert render_multiprocess(registry, False) is None
    encoder, _ = choose_encoder("")
    assert render_metrics(registry).body == encoder(registry)


def test_a_corrupted_file_fails_as_prometheus_client_fails(directory: Directory) -> None:
    directory.write(1, FAMILIES[0], ("a", "GET"), 1.0, 0.0)
    directory.close_all()
    path = directory.path / "counter_1.db"
    data = bytearray(path.read_bytes())
    data[8:12] = (10_000).to_bytes(4, sys.byteorder)  # a key longer than the file's used part
    path.write_bytes(bytes(data))
    registry = multiprocess_registry(str(directory.path))
    assert render_multiprocess(registry, False) is None
    with pytest.raises(RuntimeError, match=r"Read beyond file size detected, file is corrupted\."):
        render_metrics(registry)


_WORKER: Final = textwrap.dedent(
    """
    import sys
    from prometheus_client import Counter, Gauge, Histogram, Summary
    seed = int(sys.argv[1])
    requests = Counter("requests_total_by_view", "Requests.", ["view", "method"])
    latency = Histogram("latency_seconds", "Latency.", ["view"])
    size = Summary("size_bytes", "Size.")
    gauges = {
        mode: Gauge(f"gauge_{mode}", f"{mode} gauge.", ["k"], multiprocess_mode=mode)
        for mode in sys.argv[2:]
    }
    for i in range(40):
        view = ("home", "détail", 'q"x')[(i + seed) % 3]
        requests.labels(view, "GET" if i % 2 else "POST").inc(seed + i / 8)
        latency.labels(view).observe((i * seed) % 7 / 3)
        size.observe(i * 1.5)
        for mode, gauge in gauges.items():
            gauge.labels(view).set(seed * 10 - i)
    """
)


def test_real_processes_render_prometheus_clients_bytes(tmp_path: Path) -> None:
    """Files written by real prometheus_client processes, every gauge mode."""
    state.reset()
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for seed in (1, 2, 3):
        subprocess.run(
            [sys.executable, "-c", _WORKER, str(seed), *GAUGE_MODES], env=environment, check=True
        )
    registry = multiprocess_registry(str(tmp_path))
    _assert_identical(registry)
    body = render_multiprocess(registry, False)
    assert body is not None
    assert b'requests_total_by_view_total{method="GET",view="home"}' in body
    state.reset()


@pytest.mark.parametrize("mode", ["min", "livemin", "max", "livemax", "sum", "all", "mostrecent"])
@pytest.mark.parametrize(
    "values",
    [(0.0, -0.0), (-0.0, 0.0), (float("nan"), 1.0), (1.0, float("nan")), (2.0, 2.0, -1.0)],
)
def test_gauge_modes_break_ties_and_nans_as_prometheus_client(
    directory: Directory, mode: str, values: tuple[float, ...]
) -> None:
    """Which of equal values (0.0 and -0.0) or of a NaN and a number a mode keeps."""
    family = Family(f"gauge_{mode}", "g", ("k",), "G.")
    for pid, value in enumerate(values, start=1):
        directory.write(pid, family, ("a",), value, float(pid))
    _assert_identical(multiprocess_registry(str(directory.path)))
