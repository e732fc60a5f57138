"""Expressions evaluated for a whole scrape at once: the i-th value of every sum, min or
max is taken with one ``itemgetter`` and folded with one ``map``, so a scrape costs a few
C loops per file rather than Python work per sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from operator import add

from django_prometheus.exposition.formats import go_float
from django_prometheus.exposition.merge_plan import (
    CHAIN,
    GROUPED_ORDER,
    LAST,
    MAX,
    MIN,
    SUM,
    Expression,
    Labels,
    MergedMetric,
    SampleKey,
    gather,
    line_prefix,
)

__all__ = ["MostRecent", "Program"]


class Folds:
    """Expressions of one kind folded column by column: the i-th reference of every
    expression at once (expressions with more references first, so a column is a prefix)."""

    def __init__(self, expressions: list[Expression], start: float | None) -> None:
        ordered = sorted(expressions, key=lambda expression: -len(expression.refs))
        self.rank = {expression: rank for rank, expression in enumerate(ordered)}
        ordered_refs = [expression.refs for expression in ordered]
        width = len(ordered_refs[0]) if ordered_refs else 0
        self.columns = [
            gather([refs[k] for refs in ordered_refs if len(refs) > k]) for k in range(width)
        ]
        self.start = start

    def fold(self, values: Sequence[float], step: Callable[[float, float], float]) -> list[float]:
        if not self.columns:
            return []
        first = self.columns[0](values)
        folded = list(map(add, repeat(0.0), first)) if self.start is not None else list(first)
        for column in self.columns[1:]:
            more = column(values)
            folded[: len(more)] = map(step, folded, more)
        return folded


class Chains:
    """Cumulative bucket counts: ``acc += bucket`` along each chain, all chains at once."""

    def __init__(self, chains: list[list[Expression]], sum_slot: dict[Expression, int]) -> None:
        order = sorted(range(len(chains)), key=lambda i: -len(chains[i]))
        self.rank = {number: rank for rank, number in enumerate(order)}
        ordered = [[sum_slot[expression] for expression in chains[i]] for i in order]
        width = len(ordered[0]) if ordered else 0
        self.columns = [
            gather([slots[k] for slots in ordered if len(slots) > k]) for k in range(width)
        ]
        self.offsets: list[int] = []
        offset = 0
        for k in range(width):
            self.offsets.append(offset)
            offset += sum(1 for slots in ordered if len(slots) > k)

    def slot(self, number: int, position: int) -> int:
        return self.offsets[position] + self.rank[number]

    def fold(self, sums: Sequence[float]) -> list[float]:
        out: list[float] = []
        running: list[float] = []
        for k, column in enumerate(self.columns):
            buckets = column(sums)
            running = list(map(add, running if k else repeat(0.0), buckets))
            out += running
        return out


class Program:
    """Every sample value of the static metrics, from the scrape's value list."""

    def __init__(self, outputs: list[Expression], chains: list[list[Expression]]) -> None:
        by_kind: dict[int, list[Expression]] = {SUM: [], MIN: [], MAX: [], LAST: []}
        for expression in [*outputs, *(bucket for chain in chains for bucket in chain)]:
            if expression.kind != CHAIN:
                by_kind[expression.kind].append(expression)
        self.sums = Folds(by_kind[SUM], 0.0)
        self.mins = Folds(by_kind[MIN], None)
        self.maxs = Folds(by_kind[MAX], None)
        self.lasts = gather([expression.refs[0] for expression in by_kind[LAST]])
        self.chains = Chains(chains, self.sums.rank)
        base_min = len(by_kind[SUM])
        base_max = base_min + len(by_kind[MIN])
        base_last = base_max + len(by_kind[MAX])
        base_chain = base_last + len(by_kind[LAST])
        last_rank = {expression: i for i, expression in enumerate(by_kind[LAST])}
        slots = []
        for expression in outputs:
            kind = expression.kind
            if kind == SUM:
                slots.append(self.sums.rank[expression])
            elif kind == MIN:
                slots.append(base_min + self.mins.rank[expression])
            elif kind == MAX:
                slots.append(base_max + self.maxs.rank[expression])
            elif kind == LAST:
                slots.append(base_last + last_rank[expression])
            else:
                slots.append(base_chain + self.chains.slot(expression.chain, expression.position))
        self.outputs = gather(slots)
        # The ranks were for building; the plan keeps only the gathers.
        self.sums.rank = self.mins.rank = self.maxs.rank = {}
        self.chains.rank = {}

    def run(self, values: Sequence[float]) -> Sequence[float]:
        sums = self.sums.fold(values, add)
        results = [
            *sums,
            *self.mins.fold(values, min),
            *self.maxs.fold(values, max),
            *self.lasts(values),
            *self.chains.fold(sums),
        ]
        return self.outputs(results)


class MostRecent:
    """A ``mostrecent`` gauge, merged on each scrape: whether and where a sample appears
    depends on the timestamps."""

    def __init__(self, metric: MergedMetric) -> None:
        self.items = [
            (name, tuple(pair for pair in labels if pair[0] != "pid"), ref, file, entry)
            for name, labels, ref, file, entry in metric.items
        ]
        self.prefixes: dict[SampleKey, str] = {}

    def lines(self, values: Sequence[float], timestamps: dict[int, Sequence[float]]) -> str:
        samples: dict[Labels | None, dict[SampleKey, float]] = {}
        latest: dict[SampleKey, float] = {}
        for name, labels, ref, file, entry in self.items:
            key = (name, labels)
            stamp = float(timestamps[file][entry] or 0)
            if latest.get(key, 0.0) < stamp:
                samples.setdefault(labels if GROUPED_ORDER else None, {})[key] = values[ref]
                latest[key] = stamp
        out = []
        for group in samples.values():
            for key, value in group.items():
                prefix = self.prefixes.get(key)
                if prefix is None:
                    prefix = self.prefixes[key] = line_prefix(*key)
                out.append(f"{prefix}{go_float(value)}\n")
        return "".join(out)
