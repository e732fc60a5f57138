"""A registry rendered to exactly the bytes of prometheus_client's encoder, faster.

The stock ``Counter``/``Gauge``/``Histogram``/``Summary`` objects of a plain
``CollectorRegistry`` are walked directly: each value is read under the lock
prometheus_client's ``get()`` takes, and only the digits of values that changed since
the last scrape are written again (:mod:`django_prometheus.exposition.lines`).
Every other collector, and a stock metric with anything unusual, is rendered by
prometheus_client's own encoder, in registry order, so the concatenation stays the
encoder's output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from operator import is_not
from typing import Any, Final, Protocol, cast

from prometheus_client import metrics as client_metrics
from prometheus_client import values
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Exemplar

from django_prometheus.exposition.formats import Format, go_float
from django_prometheus.exposition.lines import (
    OVERRIDES,
    STOCK_TYPES,
    ChildLines,
    FamilyLines,
    exemplar_text,
    family_lines,
)
from django_prometheus.exposition.merge import render_multiprocess
from django_prometheus.multiprocess import MultiProcessRegistry

__all__ = ["render_registry"]

_Encoder = Callable[[Collector], bytes]
_EOF: Final = b"# EOF\n"


class _Value(Protocol):
    """A ``MutexValue``: what its ``get()`` and ``get_exemplar()`` read, and their lock."""

    _lock: threading.Lock
    _value: float
    _exemplar: Exemplar | None


class _Child(Protocol):
    """The attributes of a stock metric's child that its ``_child_samples`` reads."""

    __dict__: dict[str, Any]
    _created: float
    _value: _Value
    _count: _Value
    _sum: _Value
    _buckets: list[_Value]


_Children = list[tuple[tuple[str, ...], _Child]]
_make_target_info: Final = cast(
    "Callable[[CollectorRegistry], Metric]", CollectorRegistry._target_info_metric
)


class _Replay:
    """Collectors (or collected metrics) handed to prometheus_client's encoder together."""

    def __init__(self, parts: list[Collector | Metric]) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            if isinstance(part, Metric):
                yield part
            else:
                yield from part.collect()


def render_registry(registry: Collector, fmt: Format | None, encoder: _Encoder) -> bytes:
    """``encoder(registry)``, the same bytes."""
    if fmt is not None and type(registry) is MultiProcessRegistry:
        body = render_multiprocess(registry, fmt.openmetrics)
        return encoder(registry) if body is None else body
    if (
        fmt is None
        or type(registry) is not CollectorRegistry
        or values.ValueClass is not values.MutexValue
    ):
        return encoder(registry)
    with registry._lock:
        collectors = list(registry._collector_to_names)
        target_info = _make_target_info(registry) if registry._target_info else None
    om = fmt.openmetrics
    use_created: bool = client_metrics._use_created
    out: list[str] = []
    pending: list[Collector | Metric] = [] if target_info is None else [target_info]
    for collector in collectors:
        metric = cast(MetricWrapperBase, collector)
        lines = family_lines(metric) if type(collector) in STOCK_TYPES else None
        if lines is None:
            pending.append(collector)
            continue
        if pending:
            out.append(_encoded(pending, encoder, om))
            pending = []
        mark = len(out)
        if not _render_family(metric, lines, out, om, use_created):
            del out[mark:]
            pending.append(collector)
    if pending:
        out.append(_encoded(pending, encoder, om))
    if om:
        out.append("# EOF\n")
    return "".join(out).encode("utf-8")


def _encoded(parts: list[Collector | Metric], encoder: _Encoder, om: bool) -> str:
    body = encoder(_Replay(parts))
    if om and body.endswith(_EOF):
        body = body[: -len(_EOF)]
    return body.decode("utf-8")


def _children(metric: MetricWrapperBase) -> _Children:
    if metric._labelnames:
        with metric._lock:  # as _multi_samples: a copy taken under the parent's lock
            return cast(_Children, list(metric._metrics.items()))
    return [((), cast(_Child, metric))]


def _render_family(
    metric: MetricWrapperBase, lines: FamilyLines, out: list[str], om: bool, use_created: bool
) -> bool:
    """Append the family's lines; ``False`` when a child needs prometheus_client."""
    children = _children(metric)
    kind = lines.kind
    has_created = use_created and kind != "gauge"
    out.append(lines.om_header if om else lines.text_header)
    created: list[str] = []
    child_of = lines.child
    for label_values, child in children:
        if not OVERRIDES.isdisjoint(child.__dict__):
            return False
        entry = child_of(label_values)
        if kind == "histogram":
            block = _histogram(child, entry, om)
        elif kind == "summary":
            block = _summary(child, entry, om)
        else:
            block = _single(child, entry, om, kind == "counter")
        out.append(block)
        if has_created:
            stamp = child._created
            last = entry.created
            if stamp is not last[0]:
                last = entry.created = (stamp, f"{entry.created_prefix}{go_float(stamp)}\n")
            (out if om else created).append(last[1])
    if created:
        out.append(lines.created_header)
        out.extend(created)
    if len(children) < len(lines.children):
        lines.forget_removed(dict(children))
    return True


def _single(child: _Child, entry: ChildLines, om: bool, counter: bool) -> str:
    value = child._value
    if om and counter:
        with value._lock:
            number = value._value
            exemplar = value._exemplar
        last = entry.om
        seen = last[0]
        if seen and seen[0] is number and seen[1] is exemplar:
            return last[1]
        line = entry.prefixes[0] + go_float(number)
        if exemplar:
            line += exemplar_text(exemplar)
        entry.om = ((number, exemplar), line + "\n")
        return line + "\n"
    with value._lock:
        number = value._value
    last = entry.text
    seen = last[0]
    if seen and seen[0] is number:
        return last[1]
    line = f"{entry.prefixes[0]}{go_float(number)}\n"
    entry.text = ((number,), line)
    return line


def _summary(child: _Child, entry: ChildLines, om: bool) -> str:
    count = child._count
    total = child._sum
    with count._lock:
        counted = count._value
    with total._lock:
        summed = total._value
    last = entry.text
    seen = last[0]
    if seen and seen[0] is counted and seen[1] is summed:
        return last[1]
    prefixes = entry.prefixes
    block = f"{prefixes[0]}{go_float(counted)}\n{prefixes[1]}{go_float(summed)}\n"
    entry.text = ((counted, summed), block)
    return block


def _histogram(child: _Child, entry: ChildLines, om: bool) -> str:
    counts: list[float] = []
    keep = counts.append
    exemplars: list[Exemplar | None] = []
    for bucket in child._buckets:
        with bucket._lock:
            keep(bucket._value)
            if om:
                exemplars.append(bucket._exemplar)
    total = child._sum
    with total._lock:
        summed = total._value
    read: tuple[object, ...] = (*counts, summed, *exemplars)
    last = entry.om if om else entry.text
    seen = last[0]
    if len(seen) == len(read) and not any(map(is_not, seen, read)):
        return last[1]
    block = _histogram_block(entry.prefixes, counts, summed, exemplars)
    if om:
        entry.om = (read, block)
    else:
        entry.text = (read, block)
    return block


def _histogram_block(
    prefixes: tuple[str, ...], counts: list[float], summed: float, exemplars: list[Exemplar | None]
) -> str:
    """Cumulative buckets, ``_count`` and (when the family has it) ``_sum``."""
    parts: list[str] = []
    accumulated = 0.0
    for index, number in enumerate(counts):
        accumulated += number
        line = prefixes[index] + go_float(accumulated)
        if exemplars:
            exemplar = exemplars[index]
            if exemplar:
                line += exemplar_text(exemplar)
        parts.append(line)
    buckets = len(counts)
    parts.append(prefixes[buckets] + go_float(accumulated))
    if len(prefixes) > buckets + 1:
        parts.append(prefixes[buckets + 1] + go_float(summed))
    parts.append("")
    return "\n".join(parts)
