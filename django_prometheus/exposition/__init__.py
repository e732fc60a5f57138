"""Rendering one scrape: format negotiation, gzip and the ``name[]`` filter.

Knows registries and prometheus_client's encoders, nothing of Django or of the
instruments. The body is prometheus_client's, byte for byte: ``choose_encoder``
picks the format, and :func:`~django_prometheus.exposition.render.render_registry`
writes what that encoder would write (faster, for the stock metric classes).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from django_prometheus import state
from django_prometheus.exposition.formats import Format, fast_format
from django_prometheus.exposition.render import render_registry
from django_prometheus.multiprocess import MultiProcessRegistry

__all__ = ["GZIP_LEVEL", "Exposition", "render_metrics"]

_Encoder = Callable[[Collector], bytes]
# The encoder choose_encoder picked, its Content-Type, and the format the fast renderer
# writes in its place (None: prometheus_client renders).
_Negotiated = tuple[_Encoder, str, Format | None]

# Level 6 (zlib's default) compresses a scrape almost as well as gzip's default 9
# in a fraction of the time.
GZIP_LEVEL: Final = 6


@dataclass(frozen=True, slots=True)
class Exposition:
    """A rendered scrape: the bytes to send and the headers that describe them."""

    body: bytes
    content_type: str
    gzipped: bool


# Longer Accept values are negotiated but not cached: a client must not fill the cache.
_CACHED_HEADER_LIMIT: Final = 512


def _negotiate(accept: str) -> _Negotiated:
    if len(accept) > _CACHED_HEADER_LIMIT:
        return _negotiate_uncached(accept)
    try:
        return state.negotiations[accept]
    except KeyError:
        return state.negotiations.remember(accept, _negotiate_uncached(accept))


def _negotiate_uncached(accept: str) -> _Negotiated:
    try:
        encoder, content_type = choose_encoder(accept)
    except Exception:
        encoder, content_type = choose_encoder("")
    return encoder, content_type, fast_format(encoder)


def _accepts_gzip(accept_encoding: str) -> bool:
    if len(accept_encoding) > _CACHED_HEADER_LIMIT:
        return _parse_accepts_gzip(accept_encoding)
    accepted = state.gzip_acceptance.get(accept_encoding)
    if accepted is None:
        accepted = state.gzip_acceptance.remember(
            accept_encoding, _parse_accepts_gzip(accept_encoding)
        )
    return accepted


def _parse_accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, parameters = item.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


class _SampleNameFilter:
    """Only the samples named in ``names``, from a registry whose collectors have no names.

    ``CollectorRegistry.restricted_registry`` picks collectors by the names they
    describe; the multiprocess collector describes none, so it is filtered here.
    """

    def __init__(self, registry: Collector, names: frozenset[str]) -> None:
        self._registry = registry
        self._names = names

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            samples = [sample for sample in metric.samples if sample.name in self._names]
            if samples:
                kept = Metric(metric.name, metric.documentation, metric.type, metric.unit)
                kept.samples = samples
                yield kept


def _restricted(registry: Collector, names: Iterable[str]) -> Collector:
    wanted = frozenset(names)
    if isinstance(registry, CollectorRegistry) and not isinstance(registry, MultiProcessRegistry):
        return registry.restricted_registry(wanted)
    return _SampleNameFilter(registry, wanted)


def render_metrics(
    registry: Collector,
    *,
    accept: str | None = None,
    accept_encoding: str | None = None,
    names: Sequence[str] = (),
) -> Exposition:
    """Render ``registry`` for a scraper sending these ``Accept`` / ``Accept-Encoding`` values.

    ``names`` keeps only the samples of those names (the ``name[]`` query parameter).
    """
    encoder, content_type, fmt = _negotiate(accept or "")
    if names:
        # RestrictedRegistry walks its collectors in set order: left to prometheus_client.
        body = encoder(_restricted(registry, names))
    else:
        body = render_registry(registry, fmt, encoder)
    if accept_encoding and _accepts_gzip(accept_encoding):
        return Exposition(gzip.compress(body, compresslevel=GZIP_LEVEL), content_type, True)
    return Exposition(body, content_type, False)
