"""The typed records the fakes of :mod:`django_prometheus.testing` keep, one per event.

Each is a named tuple: the event name first, then the protocol method's
parameters, so a record equals the plain tuple of the same values.
"""

from __future__ import annotations

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
    "InstrumentationFailed",
    "MigrationsCounted",
    "ModelBound",
    "ModelDeleted",
    "ModelInserted",
    "ModelUpdated",
    "QueriesExecutedMany",
    "QueryExecuted",
    "QueryFailed",
    "RecordedCall",
    "RequestEntered",
    "RequestReceived",
    "RequestTimed",
    "ResponseLeft",
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
    | DbBound
    | ConnectionOpened
    | ConnectionFailed
    | QueryExecuted
    | QueriesExecutedMany
    | QueryFailed
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
