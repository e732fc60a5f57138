"""The typed records the fakes of :mod:`django_prometheus.testing` keep, one per event.

Each is a named tuple: the event name first, then the protocol method's
parameters, so a record equals the plain tuple of the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, TypeAlias

from django_prometheus.sinks.protocols import CacheGetOutcome, CacheOperation, Component, Transport

__all__ = [
    "CacheBound",
    "CacheGet",
    "CacheGetFinished",
    "CacheGetMany",
    "CacheOperationDone",
    "CacheOperationFailed",
    "ConnectionFailed",
    "ConnectionOpened",
    "DbBound",
    "ExceptionRaised",
    "ExemplarAttached",
    "InstrumentationFailed",
    "MigrationsCounted",
    "ModelBound",
    "ModelDeleted",
    "ModelInserted",
    "ModelUpdated",
    "PoolObserved",
    "QueriesExecutedMany",
    "QueryExecuted",
    "QueryFailed",
    "RecordedCall",
    "RequestEntered",
    "RequestFinished",
    "RequestReceived",
    "RequestRouted",
    "RequestStarted",
    "RequestTimed",
    "ResponseLeft",
    "ResponseRouted",
    "ResponseSent",
    "TemplateRendered",
    "ViewResolved",
]


class RequestEntered(NamedTuple):
    event: str


class ResponseLeft(NamedTuple):
    event: str
    latency: float | None


class RequestReceived(NamedTuple):
    event: str
    method: str
    transport: Transport
    ajax: bool
    body_bytes: int


class ViewResolved(NamedTuple):
    event: str
    view: str
    transport: Transport
    method: str


class TemplateRendered(NamedTuple):
    event: str
    template_name: str


class ResponseSent(NamedTuple):
    event: str
    status: str
    view: str
    method: str
    charset: str
    streaming: bool
    body_bytes: int | None


class ExceptionRaised(NamedTuple):
    event: str
    exception_type: str
    view: str


class RequestTimed(NamedTuple):
    event: str
    view: str
    method: str
    latency: float | None


class ExemplarAttached(NamedTuple):
    """Recorded right after the event (``observed_by``) whose observation carries it."""

    event: str
    observed_by: str
    labels: Mapping[str, str]


class RequestStarted(NamedTuple):
    event: str
    method: str


class RequestFinished(NamedTuple):
    event: str
    method: str


class RequestRouted(NamedTuple):
    event: str
    route: str
    method: str


class ResponseRouted(NamedTuple):
    event: str
    route: str
    status: str
    method: str
    latency: float | None


class DbBound(NamedTuple):
    event: str
    alias: str
    vendor: str


class ConnectionOpened(NamedTuple):
    event: str
    alias: str
    vendor: str


class ConnectionFailed(NamedTuple):
    event: str
    alias: str
    vendor: str


class QueryExecuted(NamedTuple):
    event: str
    alias: str
    vendor: str
    seconds: float


class QueriesExecutedMany(NamedTuple):
    event: str
    alias: str
    vendor: str
    count: int  # type: ignore[assignment]  # the protocol names it so; shadows tuple.count
    seconds: float


class QueryFailed(NamedTuple):
    event: str
    alias: str
    vendor: str
    error_type: str


class PoolObserved(NamedTuple):
    event: str
    alias: str
    vendor: str
    idle: int
    in_use: int
    max_size: int
    waiting: int
    wait_seconds: float


class CacheBound(NamedTuple):
    event: str
    backend: str


class CacheGet(NamedTuple):
    event: str
    backend: str
    outcome: CacheGetOutcome


class CacheGetFinished(NamedTuple):
    event: str
    backend: str
    outcome: CacheGetOutcome
    seconds: float


class CacheGetMany(NamedTuple):
    event: str
    backend: str
    hits: int
    misses: int
    fails: int


class CacheOperationDone(NamedTuple):
    event: str
    backend: str
    operation: CacheOperation
    seconds: float


class CacheOperationFailed(NamedTuple):
    event: str
    backend: str
    operation: CacheOperation
    seconds: float


class ModelBound(NamedTuple):
    event: str
    model: str


class ModelInserted(NamedTuple):
    event: str
    model: str


class ModelUpdated(NamedTuple):
    event: str
    model: str


class ModelDeleted(NamedTuple):
    event: str
    model: str


class MigrationsCounted(NamedTuple):
    event: str
    connection: str
    applied: int
    unapplied: int


class InstrumentationFailed(NamedTuple):
    event: str
    component: Component


RecordedCall: TypeAlias = (
    RequestEntered
    | ResponseLeft
    | RequestReceived
    | ViewResolved
    | TemplateRendered
    | ResponseSent
    | ExceptionRaised
    | RequestTimed
    | RequestStarted
    | RequestFinished
    | RequestRouted
    | ResponseRouted
    | ExemplarAttached
    | DbBound
    | ConnectionOpened
    | ConnectionFailed
    | QueryExecuted
    | QueriesExecutedMany
    | QueryFailed
    | PoolObserved
    | CacheBound
    | CacheGet
    | CacheGetFinished
    | CacheGetMany
    | CacheOperationDone
    | CacheOperationFailed
    | ModelBound
    | ModelInserted
    | ModelUpdated
    | ModelDeleted
    | MigrationsCounted
    | InstrumentationFailed
)
