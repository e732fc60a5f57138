"""Multiprocess scrapes written from the files' bytes: what ``MultiProcessCollector.merge``
and prometheus_client's encoder write, byte for byte, at a fraction of the cost.

On every scrape prometheus_client parses every key of every file, builds ``Metric`` and
``Sample`` objects, merges them and renders them. Here a :class:`_Plan` is made once per
set of files and keys (:mod:`~django_prometheus.exposition.merge_plan`): which values
add up (counters, histograms, summaries, ``sum`` gauges), which are compared
(``min``/``max``), which one is kept (``all``), and the cumulative bucket chains, in
prometheus_client's sample order (first-seen order up to 0.23, grouped by labels from
0.24). A scrape then unpacks each file's values with one ``struct`` call
(:mod:`~django_prometheus.exposition.merge_files`), folds them column by column
(:mod:`~django_prometheus.exposition.merge_program`) and writes again only the lines
whose value changed. ``mostrecent`` gauges, whose order depends on their timestamps, are
merged anew on each scrape as prometheus_client merges them. Whatever the plan does not
reproduce exactly (``Unsupported``) is left to prometheus_client.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator, Sequence
from itertools import compress, count
from operator import is_, ne

from django_prometheus import state
from django_prometheus.exposition.formats import go_float
from django_prometheus.exposition.merge_files import (
    FileLayout,
    KeyCache,
    Unsupported,
    read_file,
    read_used,
)
from django_prometheus.exposition.merge_plan import (
    MOST_RECENT,
    Accumulation,
    Expression,
    check_sample_name,
    line_prefix,
    read_metrics,
)
from django_prometheus.exposition.merge_program import MostRecent, Program
from django_prometheus.multiprocess import MultiProcessRegistry
from django_prometheus.multiprocess_compaction import (
    CompactedCollector,
    scrape_files,
    shared_lock,
)

__all__ = ["MergeState", "render_multiprocess"]


class _Rendering:
    """One format's body parts (headers and lines) and the values its lines show."""

    __slots__ = ("bits", "body", "parts")

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts
        self.bits = b""
        self.body: bytes | None = None


class _Plan:
    """What one set of files and keys renders to, for any values."""

    def __init__(self, names: tuple[str, ...], layouts: tuple[FileLayout, ...]) -> None:
        self.names = names
        self.layouts = layouts
        metrics = read_metrics(list(zip(names, layouts, strict=True)))
        chains: list[list[Expression]] = []
        outputs: list[Expression] = []
        self.prefixes: list[str] = []
        # The body as pieces: a header is (text, OpenMetrics); a line is its output index;
        # a mostrecent gauge is its MostRecent.
        self.pieces: list[tuple[str, str] | int | MostRecent] = []
        self.most_recent: list[MostRecent] = []
        for metric in metrics.values():
            self.pieces.append(metric.headers())
            if metric.typ == "gauge" and metric.mode in MOST_RECENT:
                for name, _, _, _, _ in metric.items:
                    check_sample_name(metric.name, name)
                dynamic = MostRecent(metric)
                self.most_recent.append(dynamic)
                self.pieces.append(dynamic)
                continue
            accumulation = Accumulation(metric, chains)
            for group in accumulation.samples.values():
                for (name, labels), expression in group.items():
                    check_sample_name(metric.name, name)
                    self.pieces.append(len(outputs))
                    outputs.append(expression)
                    self.prefixes.append(line_prefix(name, labels))
        self.program = Program(outputs, chains)
        self.timestamp_files = frozenset(
            file for dynamic in self.most_recent for _, _, _, file, _ in dynamic.items
        )
        self.line_slots = [0] * len(outputs)
        self.dynamic_slots: list[int] = []
        for position, piece in enumerate(self.pieces):
            if isinstance(piece, int):
                self.line_slots[piece] = position
            elif isinstance(piece, MostRecent):
                self.dynamic_slots.append(position)
        # The lines of the last values, shared by both formats' renderings.
        self.lines: list[str] | None = None
        self.bits = b""
        self.renderings: dict[bool, _Rendering] = {}

    def fits(self, names: tuple[str, ...], layouts: tuple[FileLayout, ...]) -> bool:
        return (
            self.names == names
            and len(self.layouts) == len(layouts)
            and all(map(is_, self.layouts, layouts))
        )

    def render(
        self, values: Sequence[float], timestamps: dict[int, Sequence[float]], om: bool
    ) -> bytes:
        outputs = self.program.run(values)
        bits = array("d", outputs).tobytes()
        lines = self.lines
        if lines is None:
            prefixes = self.prefixes
            lines = self.lines = [
                f"{p}{go_float(v)}\n" for p, v in zip(prefixes, outputs, strict=True)
            ]
        elif bits != self.bits:
            prefixes = self.prefixes
            for index in _changed(bits, self.bits):
                lines[index] = f"{prefixes[index]}{go_float(outputs[index])}\n"
        self.bits = bits
        rendering = self.renderings.get(om)
        if rendering is None:
            rendering = self.renderings[om] = self._first_rendering(lines, om)
        elif bits != rendering.bits:
            parts, slots = rendering.parts, self.line_slots
            for index in _changed(bits, rendering.bits):
                parts[slots[index]] = lines[index]
            rendering.body = None
        elif rendering.body is not None and not self.most_recent:
            return rendering.body
        rendering.bits = bits
        parts = rendering.parts
        for slot, dynamic in zip(self.dynamic_slots, self.most_recent, strict=True):
            parts[slot] = dynamic.lines(values, timestamps)
        body = "".join(parts).encode("utf-8")
        rendering.body = body
        return body

    def _first_rendering(self, lines: list[str], om: bool) -> _Rendering:
        parts: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, int):
                parts.append(lines[piece])
            elif isinstance(piece, tuple):
                parts.append(piece[1] if om else piece[0])
            else:
                parts.append("")
        if om:
            parts.append("# EOF\n")
        return _Rendering(parts)


def _changed(bits: bytes, before: bytes) -> Iterator[int]:
    """The indices of the doubles that differ, bit for bit (so 0.0 and -0.0 differ)."""
    return compress(count(), map(ne, memoryview(bits).cast("Q"), memoryview(before).cast("Q")))


class MergeState:
    """What the fast scrapes of one directory keep: file layouts, parsed keys, the plan."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.layouts: dict[str, FileLayout] = {}
        self.keys = KeyCache()
        self.plan: _Plan | None = None

    def render(self, paths: Sequence[str], om: bool) -> bytes:
        names: list[str] = []
        layouts: list[FileLayout] = []
        values: list[float] = []
        timestamps: dict[int, Sequence[float]] = {}
        kept: dict[str, FileLayout] = {}
        for path in paths:
            name = path.rpartition("/")[2]
            parts = name.split("_")
            try:
                data = read_used(path)
            except FileNotFoundError:
                if parts[0] == "gauge" and len(parts) > 1 and parts[1].startswith("live"):
                    continue  # removed by mark_process_dead since the listing, as upstream
                raise Unsupported("file vanished") from None
            stamped = parts[0] == "gauge" and len(parts) > 1 and parts[1] in MOST_RECENT
            layout, file_values, file_timestamps = read_file(
                data, self.layouts.get(path), self.keys, stamped
            )
            if stamped:
                timestamps[len(layouts)] = file_timestamps
            names.append(name)
            layouts.append(layout)
            values += file_values
            kept[path] = layout
        self.layouts = kept
        plan = self.plan
        key = (tuple(names), tuple(layouts))
        if plan is None or not plan.fits(*key):
            self.keys.keep_only(layouts)
            plan = self.plan = _Plan(*key)
        return plan.render(values, timestamps, om)


def render_multiprocess(registry: MultiProcessRegistry, om: bool) -> bytes | None:
    """The body of a scrape of ``registry`` in OpenMetrics 1.0.0 (``om``) or the text
    format, or None when prometheus_client must render it."""
    with registry._lock:
        collectors = list(registry._collector_to_names)
    if len(collectors) != 1 or type(collectors[0]) is not CompactedCollector:
        return None
    path = collectors[0].path
    merge = state.multiprocess_merges.get(path)
    if merge is None:
        merge = state.multiprocess_merges.remember(path, MergeState())
    with merge.lock, shared_lock(path):
        files = scrape_files(path)
        try:
            return merge.render(files, om)
        except Unsupported:
            merge.plan = None
            return None
