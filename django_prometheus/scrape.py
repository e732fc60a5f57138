"""Serving one scrape: access rules, method, pre-scrape hooks, the registry, the answer.

The Django view and the port exporter both translate their request into a
:class:`ScrapeRequest` and send back the :class:`ScrapeAnswer` of
:func:`serve_scrape`, so a refusal, a wrong method or a failing collector gets
the same answer from both. Instruments that must do work before a scrape (the
migration gauges) register a hook here; this module knows none of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

from django_prometheus import state
from django_prometheus.access import AccessPolicy, Decision, decide
from django_prometheus.config import PrometheusConfig, get_config
from django_prometheus.exposition import render_metrics
from django_prometheus.multiprocess import multiprocess_registry
from django_prometheus.safety import instrumentation_failed

__all__ = [
    "NO_STORE",
    "VARY",
    "ScrapeAnswer",
    "ScrapeRequest",
    "add_pre_scrape_hook",
    "remove_pre_scrape_hook",
    "scrape_registry",
    "serve_scrape",
]

logger = logging.getLogger("django_prometheus")

# A cache in front of the site (Django's cache middleware, a proxy) must never hand one
# client's scrape to another: that would bypass the access settings.
NO_STORE: Final = "no-store, private"  # "private": Django 4.2's cache middleware ignores no-store
VARY: Final = "Accept, Accept-Encoding, Authorization"
_PLAIN_TEXT: Final = "text/plain; charset=utf-8"
_SCRAPE_METHODS: Final = frozenset({"GET", "HEAD"})

PreScrapeHook = Callable[[], None]


@dataclass(frozen=True, slots=True)
class ScrapeRequest:
    """What a scrape asks, whichever server received it."""

    method: str
    remote_addr: str | None = None
    forwarded_for: str | None = None
    authorization: str | None = None
    accept: str | None = None
    accept_encoding: str | None = None
    names: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ScrapeAnswer:
    """Status, headers (``Cache-Control`` and ``Vary`` included) and body to send."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


_CACHING_HEADERS: Final = (("Cache-Control", NO_STORE), ("Vary", VARY))


def _plain(status: int, body: bytes, *extra: tuple[str, str]) -> ScrapeAnswer:
    return ScrapeAnswer(status, (("Content-Type", _PLAIN_TEXT), *extra, *_CACHING_HEADERS), body)


# ------------------------------------------------------------------- pre-scrape hooks

_hooks = state.pre_scrape_hooks
_hooks_lock = threading.Lock()


def add_pre_scrape_hook(hook: PreScrapeHook) -> None:
    """Run ``hook`` before every scrape this process serves (once, however often added).

    A hook must not raise; one that does is counted as an export error and the
    scrape goes on.
    """
    with _hooks_lock:
        if hook not in _hooks:
            _hooks.append(hook)


def remove_pre_scrape_hook(hook: PreScrapeHook) -> None:
    with _hooks_lock:
        if hook in _hooks:
            _hooks.remove(hook)


def _run_pre_scrape_hooks() -> None:
    for hook in tuple(_hooks):
        try:
            hook()
        except Exception as error:  # noqa: PERF203 - one failing hook must not stop the others
            instrumentation_failed("export", error)


# ------------------------------------------------------------- configuration, registry


def _policy(config: PrometheusConfig) -> AccessPolicy:
    # Keyed by identity: a config is frozen, and a changed setting makes a new one.
    cached = state.access_policies.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    policy = AccessPolicy.from_config(config)
    if len(state.access_policies) >= state.access_policies.limit:
        state.access_policies.clear()  # configs of past settings
    state.access_policies.remember(id(config), (config, policy))
    return policy


def scrape_registry(config: PrometheusConfig) -> Collector:
    """The registry a scrape reads: the global one, or the merged multiprocess files."""
    if config.multiproc_dir is None:
        return REGISTRY
    return multiprocess_registry(config.multiproc_dir)


# ------------------------------------------------------------------------ the answer


def _refusal(decision: Decision, policy: AccessPolicy) -> ScrapeAnswer:
    # The body names nothing: neither metrics nor which rule refused.
    if decision == "forbidden":
        return _plain(403, b"Forbidden\n")
    return _plain(401, b"Unauthorized\n", ("WWW-Authenticate", policy.challenge()))


def serve_scrape(request: ScrapeRequest, config: PrometheusConfig | None = None) -> ScrapeAnswer:
    """The answer to one scrape. Never raises: a failing collector answers 503, counted."""
    config = get_config() if config is None else config
    policy = _policy(config)
    if not policy.is_open:
        decision = decide(
            policy,
            remote_addr=request.remote_addr,
            forwarded_for=request.forwarded_for,
            authorization=request.authorization,
        )
        if decision != "allowed":
            logger.debug("Refused a metrics scrape (%s)", decision)
            return _refusal(decision, policy)
    if request.method not in _SCRAPE_METHODS:
        return _plain(405, b"", ("Allow", "GET, HEAD"))
    try:
        _run_pre_scrape_hooks()
        exposition = render_metrics(
            scrape_registry(config),
            accept=request.accept,
            accept_encoding=request.accept_encoding,
            names=request.names,
        )
    except Exception as error:
        # Prometheus marks the target down on any non-2xx; 503 says "try again", and
        # the error itself is counted and logged instead of reaching the client.
        instrumentation_failed("export", error)
        return _plain(503, b"Metrics unavailable\n")
    headers = [("Content-Type", exposition.content_type)]
    if exposition.gzipped:
        headers.append(("Content-Encoding", "gzip"))
    return ScrapeAnswer(200, (*headers, *_CACHING_HEADERS), exposition.body)
