"""The bound recorders move exactly what ``inc``/``observe`` move, in every value mode."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

from django_prometheus.sinks.recorders import (
    RECORD_NOTHING,
    counter_inc,
    histogram_observe,
    joint_record,
    locked_add,
)

BUCKETS = (0.0, 1.0, 2.0, 4.0, 8.0, math.inf)
AMOUNTS = [0, 0.0, 0.5, 1, 1.0, 1.5, 2, 3.99, 4, 8, 8.01, 1e9, math.inf]


def record_both(registry: CollectorRegistry) -> None:
    slow_counter = Counter("slow_c", "c", ["k"], registry=registry).labels("v")
    fast_counter = Counter("fast_c", "c", ["k"], registry=registry).labels("v")
    slow = Histogram("slow_h", "h", ["k"], buckets=BUCKETS, registry=registry).labels("v")
    fast = Histogram("fast_h", "h", ["k"], buckets=BUCKETS, registry=registry).labels("v")
    inc, observe = counter_inc(fast_counter), histogram_observe(fast)
    assert observe != fast.observe, "the bisecting recorder must be in use"
    for amount in AMOUNTS:
        slow_counter.inc(1)
        inc(1)
        slow.observe(amount)
        observe(amount)


def test_in_process_values_match_the_public_api() -> None:
    registry = CollectorRegistry()
    record_both(registry)
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            found[(sample.name, sample.labels.get("le", ""))] = sample.value
    for (name, le), value in found.items():
        if name.startswith("fast"):
            assert found[("slow" + name[4:], le)] == value, (name, le)
    assert found[("fast_h_count", "")] == len(AMOUNTS)
    assert found[("fast_h_bucket", "4.0")] == 9  # 0, 0.0, 0.5, 1, 1.0, 1.5, 2, 3.99 and 4


@pytest.fixture
def multiprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 4242))  # type: ignore[no-untyped-call]
    yield tmp_path
    values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]


def test_multiprocess_values_match_the_public_api(multiprocess: Path) -> None:
    record_both(CollectorRegistry())
    aggregated = CollectorRegistry()
    MultiProcessCollector(aggregated, str(multiprocess))  # type: ignore[no-untyped-call]
    found = {}
    for family in aggregated.collect():
        for sample in family.samples:
            found[(sample.name, sample.labels.get("le", ""))] = sample.value
    fast = {key: value for key, value in found.items() if key[0].startswith("fast")}
    assert len(fast) == 1 + len(BUCKETS) + 2
    for (name, le), value in fast.items():
        assert found[("slow" + name[4:], le)] == value, (name, le)
    assert found[("fast_h_count", "")] == len(AMOUNTS)


def test_unexpected_internals_fall_back_to_the_public_methods() -> None:
    class Odd:
        def inc(self, amount: float = 1) -> None: ...

        def observe(self, amount: float) -> None: ...

    odd = Odd()
    assert counter_inc(odd) == odd.inc  # type: ignore[arg-type]
    assert histogram_observe(odd) == odd.observe  # type: ignore[arg-type]


def _joint_families(registry: CollectorRegistry, prefix: str) -> tuple[list[Counter], Histogram]:
    counters = [
        Counter(f"{prefix}_c{index}", "c", ["k"], registry=registry).labels("v")
        for index in range(4)
    ]
    histogram = Histogram(f"{prefix}_h", "h", ["k"], buckets=BUCKETS, registry=registry)
    return counters, histogram.labels("v")


def _samples(registry: CollectorRegistry, prefix: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name[len(prefix) :], sample.labels.get("le", "")): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith(prefix) and not sample.name.endswith("_created")
    }


def record_joint(registry: CollectorRegistry) -> None:
    slow_counters, slow = _joint_families(registry, "slow")
    fast_counters, fast = _joint_families(registry, "fast")
    lock_of = fast_counters[0]
    recorders = [
        joint_record(fast_counters[:3], fast, lock_of=lock_of),
        joint_record(fast_counters[:2], fast, lock_of=lock_of),
        joint_record(fast_counters, fast, lock_of=lock_of),
        joint_record(fast_counters[1:2], None, lock_of=lock_of),
        joint_record(fast_counters[1:2], fast, lock_of=lock_of),
    ]
    shapes = [(3, True), (2, True), (4, True), (1, False), (1, True)]
    for amount in AMOUNTS:
        for record, (count, observed) in zip(recorders, shapes, strict=True):
            record(amount)
            for child in slow_counters[:count] if count != 1 else slow_counters[1:2]:
                child.inc(1)
            if observed:
                slow.observe(amount)


def test_joint_records_move_what_the_public_api_moves() -> None:
    registry = CollectorRegistry()
    record_joint(registry)
    slow, fast = _samples(registry, "slow"), _samples(registry, "fast")
    assert fast == slow
    assert fast[("_h_count", "")] == 4 * len(AMOUNTS)


def test_joint_records_fall_back_in_multiprocess_mode(multiprocess: Path) -> None:
    record_joint(CollectorRegistry())
    aggregated = CollectorRegistry()
    MultiProcessCollector(aggregated, str(multiprocess))  # type: ignore[no-untyped-call]
    assert _samples(aggregated, "fast") == _samples(aggregated, "slow")


def _in_four_threads(*moves: Callable[[], None]) -> None:
    """Four threads at once, each making every move 2,000 times in turn."""

    def work() -> None:
        for _ in range(2000):
            for move in moves:
                move()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_joint_records_share_the_lock_so_threads_lose_nothing() -> None:
    registry = CollectorRegistry()
    counters, histogram = _joint_families(registry, "t")
    record = joint_record(counters[:3], histogram, lock_of=counters[0])
    public = counters[1].inc  # another caller of a shared value, through its own lock
    assert {id(child._value._lock) for child in counters[:3]} == {id(counters[0]._value._lock)}

    _in_four_threads(lambda: record(0.5), lambda: public(1))
    samples = _samples(registry, "t")
    assert samples[("_c0_total", "")] == 8000
    assert samples[("_c1_total", "")] == 16000
    assert samples[("_h_count", "")] == 8000
    assert samples[("_h_sum", "")] == 4000


def test_joint_records_with_a_given_lock_count_a_none_amount_without_observing() -> None:
    registry = CollectorRegistry()
    counters, histogram = _joint_families(registry, "n")
    lock = threading.Lock()
    shapes = [counters[:count] for count in range(5)]
    recorders = [joint_record(children, histogram, lock=lock) for children in shapes]
    assert all(child._value._lock is lock for child in counters)
    assert histogram._sum._lock is lock
    for record in recorders:
        record(None)
        record(1.5)
    samples = _samples(registry, "n")
    assert [samples[(f"_c{index}_total", "")] for index in range(4)] == [8, 6, 4, 2]
    assert samples[("_h_count", "")] == 5
    assert samples[("_h_sum", "")] == 7.5
    assert samples[("_h_bucket", "1.0")] == 0
    assert samples[("_h_bucket", "2.0")] == 5


def test_joint_records_with_a_none_amount_fall_back_in_multiprocess_mode(
    multiprocess: Path,
) -> None:
    counters, histogram = _joint_families(CollectorRegistry(), "m")
    record = joint_record(counters[:2], histogram, lock=threading.Lock())
    record(None)
    record(3.0)
    aggregated = CollectorRegistry()
    MultiProcessCollector(aggregated, str(multiprocess))  # type: ignore[no-untyped-call]
    samples = _samples(aggregated, "m")
    assert samples[("_c0_total", "")] == 2
    assert samples[("_c1_total", "")] == 2
    assert samples[("_h_count", "")] == 1
    assert samples[("_h_sum", "")] == 3.0


def test_locked_adds_take_the_given_lock_and_move_what_inc_moves() -> None:
    registry = CollectorRegistry()
    lock = threading.Lock()
    counter = Counter("la_c", "c", ["k"], registry=registry)
    gauge = Gauge("la_g", "g", ["k"], registry=registry)
    unlabelled = Counter("la_u", "u", registry=registry)
    add_counter = locked_add(counter, lock, "v")
    add_gauge = locked_add(gauge, lock, "v")
    add_unlabelled = locked_add(unlabelled, lock)
    assert counter.labels("v")._value._lock is lock
    assert gauge.labels("v")._value._lock is lock
    assert unlabelled._value._lock is lock
    add_counter(1)
    add_counter(2.5)
    add_gauge(1)
    add_gauge(1)
    add_gauge(-1)
    add_unlabelled(1)
    assert registry.get_sample_value("la_c_total", {"k": "v"}) == 3.5
    assert registry.get_sample_value("la_g", {"k": "v"}) == 1
    assert registry.get_sample_value("la_u_total") == 1
    assert locked_add(None, lock, "v") is RECORD_NOTHING


def test_locked_adds_and_the_public_api_lose_nothing_across_threads() -> None:
    registry = CollectorRegistry()
    lock = threading.Lock()
    counter = Counter("lt_c", "c", ["k"], registry=registry)
    add = locked_add(counter, lock, "v")
    public = counter.labels("v").inc  # another caller, through the value's (now shared) lock

    _in_four_threads(lambda: add(1), lambda: public(1))
    assert registry.get_sample_value("lt_c_total", {"k": "v"}) == 16000


def test_the_lock_is_switched_only_when_no_inc_holds_the_old_one() -> None:
    registry = CollectorRegistry()
    counter = Counter("lh_c", "c", registry=registry)
    old = counter._value._lock
    new = threading.Lock()
    old.acquire()  # an inc half done in another thread
    handed = threading.Event()

    def bind() -> None:
        locked_add(counter, new)
        handed.set()

    binder = threading.Thread(target=bind)
    binder.start()
    assert not handed.wait(0.2), "the lock was switched while the old one was held"
    assert counter._value._lock is old
    old.release()
    binder.join(5)
    assert handed.is_set()
    assert counter._value._lock is new


def test_locked_adds_fall_back_in_multiprocess_mode(multiprocess: Path) -> None:
    counter = Counter("lm_c", "c", ["k"], registry=CollectorRegistry())
    lock = threading.Lock()
    add = locked_add(counter, lock, "v")
    add(1)
    add(2)
    assert type(counter.labels("v")._value).__name__ == "MmapedValue"
    assert not hasattr(counter.labels("v")._value, "_lock")  # its module's lock, untouched
    aggregated = CollectorRegistry()
    MultiProcessCollector(aggregated, str(multiprocess))  # type: ignore[no-untyped-call]
    assert aggregated.get_sample_value("lm_c_total", {"k": "v"}) == 3
