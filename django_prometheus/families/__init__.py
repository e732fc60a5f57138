"""Every metric family we export, declared once.

``Metrics.register`` makes the HTTP families from this table and the prometheus
sinks make the others; ``scripts/gen_metrics_doc.py`` writes docs/metrics.md
from it. The order of a domain is the order of registration, hence of
``/metrics``. Names are as passed to prometheus_client and are the contract
(spec/metrics.md): never rename one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Final

from django_prometheus.families.data import CACHE, DB, DB_POOL, ERRORS, MIGRATIONS, MODEL
from django_prometheus.families.family import (
    BODY_SIZE_BUCKETS,
    CACHE_OPERATION_BUCKETS,
    Buckets,
    Domain,
    Family,
    MetricClass,
    MultiprocessMode,
)
from django_prometheus.families.http import HTTP

__all__ = [
    "BODY_SIZE_BUCKETS",
    "CACHE",
    "CACHE_OPERATION_BUCKETS",
    "DB",
    "DB_POOL",
    "DOMAINS",
    "ERRORS",
    "HTTP",
    "MIGRATIONS",
    "MODEL",
    "Buckets",
    "Domain",
    "Family",
    "MetricClass",
    "MultiprocessMode",
    "family_name",
]


DOMAINS: Final[Mapping[Domain, tuple[Family, ...]]] = {
    "http": HTTP,
    "db": (*DB, *DB_POOL),
    "cache": CACHE,
    "model": MODEL,
    "migrations": MIGRATIONS,
    "errors": ERRORS,
}
"""Every family by domain, in the order the reference registry makes them."""


def family_name(name: str) -> str:
    """The table's name of the family ``name`` designates (its exposed ``_total`` form
    too); ValueError naming the closest known family when there is none."""
    by_exposed = {
        exposed: family.name
        for families in DOMAINS.values()
        for family in families
        for exposed in family.exposed_names
    }
    known = by_exposed.get(name)
    if known is not None:
        return known
    closest = difflib.get_close_matches(name, list(by_exposed), n=1, cutoff=0.0)
    hint = f"; did you mean {closest[0]!r}?" if closest else ""
    raise ValueError(f"{name!r} is no metric family of django-prometheus{hint}")
