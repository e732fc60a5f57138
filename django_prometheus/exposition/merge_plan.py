"""The merge of the multiprocess files as expressions: what ``MultiProcessCollector``
does to the values of a set of files and keys, with each value replaced by its index.

:func:`read_metrics` reads the files' keys as ``_read_metrics`` reads them, and
:class:`Accumulation` merges a metric's samples as ``_accumulate_metrics`` does, in the
sample order of the installed release (first-seen order up to 0.23, grouped by labels
from 0.24): a sum from 0.0 (counters, histograms, summaries, ``sum`` gauges), a running
``min``/``max``, the last value (``all``), or a step of a cumulative bucket chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Final

from prometheus_client.utils import floatToGoString

from django_prometheus.exposition.formats import (
    INSTALLED_RELEASE,
    doc_om,
    doc_text,
    escape_value,
    is_plain_name,
)
from django_prometheus.exposition.merge_files import FileLayout, Unsupported

__all__ = [
    "CHAIN",
    "GROUPED_ORDER",
    "LAST",
    "MAX",
    "MIN",
    "MOST_RECENT",
    "SUM",
    "Accumulation",
    "Expression",
    "Gather",
    "Item",
    "Labels",
    "MergedMetric",
    "SampleKey",
    "check_sample_name",
    "gather",
    "line_prefix",
    "read_metrics",
]

# 0.24.0 groups a metric's samples by their labels; earlier releases keep first-seen order.
GROUPED_ORDER: Final = INSTALLED_RELEASE >= (0, 24)
_TYPES: Final = frozenset({"counter", "gauge", "histogram", "summary"})
MOST_RECENT: Final = frozenset({"mostrecent", "livemostrecent"})
# Gauge modes whose samples do not depend on the pid (nor, like mostrecent, on the order
# of the timestamps): merged per key.
_BY_KEY_MODES: Final = frozenset({"min", "livemin", "max", "livemax", "sum", "livesum"})
TEXT_ONLY_SUFFIXES: Final = ("_created", "_gsum", "_gcount")

Labels = tuple[tuple[str, str], ...]
SampleKey = tuple[str, Labels]
# A file's entry as the merge sees it: sample name, labels (with the pid of a gauge
# file), the index of its value in the scrape's value list, file index, entry index.
Item = tuple[str, Labels, int, int, int]
Gather = Callable[[Sequence[float]], Sequence[float]]

# Expression kinds: a sum from 0.0, a running min or max, the last value, a bucket chain.
SUM, MIN, MAX, LAST, CHAIN = range(5)


class Expression:
    """How one merged value is made from the files' values (``refs``, in reading order)."""

    __slots__ = ("chain", "kind", "position", "refs")

    def __init__(self, kind: int, refs: list[int], chain: int = 0, position: int = 0) -> None:
        self.kind = kind
        self.refs = refs
        self.chain = chain  # CHAIN: which bucket chain, and how far along it
        self.position = position


def gather(indices: Sequence[int]) -> Gather:
    if len(indices) == 1:
        only = indices[0]
        return lambda values: (values[only],)
    if not indices:
        return lambda values: ()
    getter: Gather = itemgetter(*indices)
    return getter


def line_prefix(name: str, labels: Labels) -> str:
    """A sample line up to its value: labels as the encoders write them (a dict, sorted)."""
    pairs = sorted(dict(labels).items())
    if not pairs:
        return name + " "
    for label, _ in pairs:
        if not is_plain_name(label):
            raise Unsupported("label name needs escaping")
    return name + "{" + ",".join(f'{k}="{escape_value(v)}"' for k, v in pairs) + "} "


class MergedMetric:
    """One metric family's entries across the files, in the collector's reading order."""

    __slots__ = ("help_text", "items", "mode", "name", "runs", "typ")

    def __init__(self, name: str, help_text: str, typ: str, mode: str | None) -> None:
        self.name = name
        self.help_text = help_text
        self.typ = typ
        self.mode = mode
        # Where the pid does not matter: each key with all its value indices (ascending, so
        # in reading order), keys in the order they first appear.
        self.runs: list[tuple[str, Labels, list[int]]] = []
        # Where it does (all, mostrecent): every entry on its own.
        self.items: list[Item] = []

    def headers(self) -> tuple[str, str]:
        name, typ = self.name, self.typ
        text_name = name + "_total" if typ == "counter" else name
        text = f"# HELP {text_name} {doc_text(self.help_text)}\n# TYPE {text_name} {typ}\n"
        om = f"# HELP {name} {doc_om(self.help_text)}\n# TYPE {name} {typ}\n"
        return text, om


def read_metrics(files: Sequence[tuple[str, FileLayout]]) -> dict[str, MergedMetric]:
    """``MultiProcessCollector.read_metrics`` over layouts, with value indices for values."""
    metrics: dict[str, MergedMetric] = {}
    # Per kind of file (type and gauge mode): each key's value indices.
    seen: dict[tuple[str, str], dict[bytes, list[int]]] = {}
    base = 0
    for file_index, (basename, layout) in enumerate(files):
        parts = basename.split("_")
        typ = parts[0]
        if typ not in _TYPES:
            raise Unsupported("unknown file type")
        mode = pid = ""
        if typ == "gauge":
            if len(parts) < 3:
                raise Unsupported("gauge file without a pid")
            mode, pid = parts[1], parts[2][:-3]
        if typ != "gauge" or mode in _BY_KEY_MODES:
            known = seen.setdefault((typ, mode), {})
            for index, (mark, entry) in enumerate(layout.keys):
                refs = known.get(mark)
                if refs is None:
                    metric = _metric_of(metrics, entry.metric_name, entry.help_text, typ, mode)
                    labels = entry.labels
                    if typ == "gauge":
                        labels = tuple(pair for pair in labels if pair[0] != "pid")
                    refs = known[mark] = []
                    metric.runs.append((entry.name, labels, refs))
                refs.append(base + index)
        else:
            for index, (_, entry) in enumerate(layout.keys):
                metric = _metric_of(metrics, entry.metric_name, entry.help_text, typ, mode)
                labels = (*entry.labels, ("pid", pid))
                metric.items.append((entry.name, labels, base + index, file_index, index))
        base += len(layout.keys)
    return metrics


def _metric_of(
    metrics: dict[str, MergedMetric], name: str, help_text: str, typ: str, mode: str
) -> MergedMetric:
    metric = metrics.get(name)
    if metric is None:
        if not is_plain_name(name):
            raise Unsupported("metric name needs escaping")
        metric = metrics[name] = MergedMetric(name, help_text, typ, mode or None)
    elif metric.typ != typ or (metric.mode or "") != mode:
        raise Unsupported("one metric in files of two types or modes")
    return metric


class Accumulation:
    """``_accumulate_metrics`` of one metric with expressions in place of values."""

    def __init__(self, metric: MergedMetric, chains: list[list[Expression]]) -> None:
        self.samples: dict[Labels | None, dict[SampleKey, Expression]] = {}
        typ, mode = metric.typ, metric.mode
        kind = SUM
        if typ == "gauge":
            kind = {"min": MIN, "livemin": MIN, "max": MAX, "livemax": MAX}.get(
                mode or "", SUM if mode in ("sum", "livesum") else LAST
            )
        buckets: dict[Labels, dict[float, Expression]] = {}
        runs = metric.runs or [(name, labels, [ref]) for name, labels, ref, _, _ in metric.items]
        merge = bool(metric.runs)
        histogram = typ == "histogram"
        for name, labels, refs in runs:
            if histogram:
                bucket = _bucket_of(labels)
                if bucket is not None:
                    without_le = tuple(pair for pair in labels if pair[0] != "le")
                    values = buckets.setdefault(without_le, {})
                    found = values.get(bucket)
                    if found is None:
                        values[bucket] = Expression(SUM, refs)
                    else:
                        found.refs = sorted(found.refs + refs)
                    continue
            group = self.samples.setdefault(labels if GROUPED_ORDER else None, {})
            key = (name, labels)
            found = group.get(key)
            if found is None:
                group[key] = Expression(kind, refs)
            elif kind == LAST:
                found.refs = refs
            elif merge:
                found.refs = sorted(found.refs + refs)  # another key of the same sample
            else:
                found.refs.append(refs[0])
        for labels, values in buckets.items():
            chain = [values[bucket] for bucket in sorted(values)]
            chains.append(chain)
            group = self.samples.setdefault(labels if GROUPED_ORDER else None, {})
            number = len(chains) - 1
            for position, bucket in enumerate(sorted(values)):
                le = floatToGoString(bucket)  # type: ignore[no-untyped-call]
                group[(metric.name + "_bucket", (*labels, ("le", le)))] = Expression(
                    CHAIN, [], number, position
                )
            group[(metric.name + "_count", labels)] = Expression(CHAIN, [], number, len(chain) - 1)


def _bucket_of(labels: Labels) -> float | None:
    for label, value in labels:
        if label == "le":
            try:
                bucket = float(value)
            except ValueError as error:
                raise Unsupported("unreadable le") from error
            if bucket != bucket:
                raise Unsupported("NaN le")  # sorted() of NaN keys compares the values
            return bucket
    return None


def check_sample_name(metric_name: str, name: str) -> None:
    """Refuse what the plan does not write as the encoders do."""
    if not is_plain_name(name):
        raise Unsupported("sample name needs escaping")
    # The text encoder moves these samples into a gauge family of their own.
    if name.startswith(metric_name) and name[len(metric_name) :] in TEXT_ONLY_SUFFIXES:
        raise Unsupported("sample the text format moves")
