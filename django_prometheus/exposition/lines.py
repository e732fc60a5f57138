"""What does not change between two scrapes of a stock metric: its header lines and the
start of every line of every child (name, sorted and escaped labels).

A :class:`FamilyLines` is kept per metric object in ``state.exposition_families``
(weakly: it dies with the metric). Its children are keyed by their label values, the
only thing a child's line starts depend on; the entries of removed children are
dropped by the next scrape.
"""

from __future__ import annotations

import bisect
from collections.abc import Container
from typing import Final

from prometheus_client.metrics import Counter, Gauge, Histogram, MetricWrapperBase, Summary
from prometheus_client.samples import Exemplar

from django_prometheus import state
from django_prometheus.exposition.formats import (
    doc_om,
    doc_text,
    escape_value,
    go_float,
    is_plain_name,
)

__all__ = ["STOCK_TYPES", "ChildLines", "FamilyLines", "exemplar_text", "family_lines"]

# The exact classes rendered directly; subclasses may change any sample.
STOCK_TYPES: Final = (Counter, Gauge, Histogram, Summary)
_KINDS: Final = {Counter: "counter", Gauge: "gauge", Histogram: "histogram", Summary: "summary"}
# Instance attributes that would change what collect() returns (Gauge.set_function sets
# _child_samples on the instance).
OVERRIDES: Final = frozenset(
    {"collect", "describe", "_get_metric", "_samples", "_multi_samples", "_child_samples"}
)


class ChildLines:
    """One child's line starts, and the lines last written from its values.

    ``text``, ``om`` and ``created`` each hold (the value objects read, the lines made
    from them) and are replaced whole, so a concurrent scrape sees a matching pair.
    A value object is compared by identity: prometheus_client stores a new float on
    every change, so the same object means the same number and the same digits.
    """

    __slots__ = ("created", "created_prefix", "om", "prefixes", "text")

    def __init__(self, prefixes: tuple[str, ...], created_prefix: str) -> None:
        self.prefixes = prefixes
        self.created_prefix = created_prefix
        self.text: tuple[tuple[object, ...], str] = ((), "")
        self.om: tuple[tuple[object, ...], str] = ((), "")
        self.created: tuple[object, str] = (None, "")


class FamilyLines:
    """The cached lines of one registered metric (a parent or a label-less metric)."""

    __slots__ = (
        "children",
        "created_header",
        "kind",
        "label_names",
        "label_order",
        "le_index",
        "les",
        "name",
        "om_header",
        "signature",
        "suffixes",
        "text_header",
    )

    def __init__(self, metric: MetricWrapperBase, signature: tuple[object, ...]) -> None:
        described = next(iter(metric.describe()))
        name: str = described.name
        documentation: str = described.documentation
        kind = _KINDS[type(metric)]
        self.signature = signature
        self.kind = kind
        self.name = name
        label_names: tuple[str, ...] = metric._labelnames
        self.label_names = label_names
        # The position of each label value once the labels are sorted by name.
        self.label_order = sorted(range(len(label_names)), key=label_names.__getitem__)
        sorted_names = [label_names[i] for i in self.label_order]
        self.le_index = bisect.bisect(sorted_names, "le")
        self.les: tuple[str, ...] = ()
        if isinstance(metric, Histogram):
            bounds: list[float] = metric._upper_bounds
            self.les = tuple(go_float(bound) for bound in bounds)
            self.suffixes = ("_bucket",) * len(bounds) + ("_count",)
            if bounds[0] >= 0:
                self.suffixes += ("_sum",)
        else:
            self.suffixes = {"counter": ("_total",), "gauge": ("",), "summary": ("_count", "_sum")}[
                kind
            ]
        text_name = name + "_total" if kind == "counter" else name
        self.text_header = (
            f"# HELP {text_name} {doc_text(documentation)}\n# TYPE {text_name} {kind}\n"
        )
        self.om_header = f"# HELP {name} {doc_om(documentation)}\n# TYPE {name} {kind}\n"
        if described.unit:
            self.om_header += f"# UNIT {name} {described.unit}\n"
        self.created_header = (
            f"# HELP {name}_created {doc_text(documentation)}\n# TYPE {name}_created gauge\n"
        )
        self.children: dict[tuple[str, ...], ChildLines] = {}

    def child(self, label_values: tuple[str, ...]) -> ChildLines:
        """The line starts of the child with these label values (made on first use)."""
        lines = self.children.get(label_values)
        if lines is None:
            lines = self.children[label_values] = self._make_child(label_values)
        return lines

    def _make_child(self, label_values: tuple[str, ...]) -> ChildLines:
        names = self.label_names
        parts = [f'{names[i]}="{escape_value(label_values[i])}"' for i in self.label_order]
        plain = "{" + ",".join(parts) + "} " if parts else " "
        name = self.name
        prefixes = []
        for index, suffix in enumerate(self.suffixes):
            if suffix == "_bucket":
                with_le = [
                    *parts[: self.le_index],
                    f'le="{self.les[index]}"',
                    *parts[self.le_index :],
                ]
                prefixes.append(f"{name}_bucket{{{','.join(with_le)}}} ")
            else:
                prefixes.append(name + suffix + plain)
        return ChildLines(tuple(prefixes), name + "_created" + plain)

    def forget_removed(self, present: Container[tuple[str, ...]]) -> None:
        """Drop the entries of children no longer in the metric."""
        self.children = {k: v for k, v in self.children.items() if k in present}


def _signature(metric: MetricWrapperBase) -> tuple[object, ...]:
    bounds = tuple(metric._upper_bounds) if isinstance(metric, Histogram) else ()
    return (metric._name, metric._documentation, metric._unit, metric._labelnames, bounds)


def family_lines(metric: MetricWrapperBase) -> FamilyLines | None:
    """The cached lines of a stock metric, or ``None`` when prometheus_client must render
    it (names needing escaping, an instance override)."""
    if not OVERRIDES.isdisjoint(metric.__dict__):
        return None
    signature = _signature(metric)
    lines = state.exposition_families.get(metric)
    if lines is not None and lines.signature == signature:
        return lines
    label_names = metric._labelnames
    if not is_plain_name(metric._name) or not all(map(is_plain_name, label_names)):
        return None
    lines = FamilyLines(metric, signature)
    if lines.name != metric._name:
        return None
    state.exposition_families[metric] = lines
    return lines


def exemplar_text(exemplar: Exemplar) -> str:
    """`` # {labels} value [timestamp]`` after an OpenMetrics sample."""
    labels = ",".join(f'{k}="{escape_value(v)}"' for k, v in sorted(exemplar.labels.items()))
    if exemplar.timestamp is not None:
        return f" # {{{labels}}} {go_float(exemplar.value)} {exemplar.timestamp}"
    return f" # {{{labels}}} {go_float(exemplar.value)}"
