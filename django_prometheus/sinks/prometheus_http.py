"""HTTP events as the contract's ``django_http_*`` families of one ``Metrics``."""

from __future__ import annotations

from threading import Lock
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import Histogram

from django_prometheus import state
from django_prometheus.sinks.protocols import Exemplar, Transport
from django_prometheus.sinks.recorders import (
    JointRecord,
    Record,
    histogram_child,
    joint_record,
    locked_add,
)

if TYPE_CHECKING:
    from django_prometheus.http_metrics import Metrics

__all__ = ["PrometheusHttpSink"]


def _family(metrics: Metrics, key: str) -> Any:
    """The family ``metrics`` made under ``key``; None when it is not made (disabled, opt-in)."""
    return getattr(metrics, key, None)


def _child(family: Any, *labels: str) -> Any:
    """``family``'s child for ``labels``; None when the family is not made."""
    if family is None:
        return None
    return family.labels(*labels) if labels else family


class PrometheusHttpSink:
    """HTTP events as the ``django_http_*`` families of one ``Metrics``.

    The families belong to the :class:`~django_prometheus.middleware.Metrics`
    instance (the upstream extension API hands them out). Each event with several
    series moves them through one joint recorder per label tuple, bound on first
    use (``recorders.joint_record``), and a single-series event through
    ``recorders.locked_add``: in-process, every value this sink moves shares the
    sink's lock, so an event costs one dictionary lookup and one acquisition of the
    same lock. Label values are bounded by the middleware (methods whitelisted,
    views and routes from the resolver). Two threads racing on a miss bind the same
    children from prometheus_client under the same lock, so the caches need no lock of
    their own. A family that is not made records nothing. Make it with
    :meth:`for_metrics`: one sink per ``Metrics``, so one lock per value.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._lock = lock = Lock()
        self._requests_entered = locked_add(_family(metrics, "requests_total"), lock)
        self._unknown_latency_including_middlewares = locked_add(
            _family(metrics, "requests_unknown_latency_before"), lock
        )
        self._ajax = locked_add(_family(metrics, "requests_ajax"), lock)
        self._streaming = locked_add(_family(metrics, "responses_streaming"), lock)
        self._unknown_latency = locked_add(_family(metrics, "requests_unknown_latency"), lock)
        self._families = {key: _family(metrics, key) for key in _LABELLED}
        self._response_left = self._joint(
            (_family(metrics, "responses_total"),), _family(metrics, "requests_latency_before")
        )
        # For events with an exemplar, which go through the public methods.
        self._response_body = histogram_child(_family(metrics, "responses_body_bytes"))
        self._by_charset: dict[str, Record] = {}
        self._by_template: dict[str, Record] = {}
        self._by_exception_type: dict[str, Record] = {}
        self._by_exception_view: dict[str, Record] = {}
        self._in_progress: dict[str, Record] = {}
        # One recorder per label tuple of an event: every series the event moves.
        self._received: dict[tuple[str, str], JointRecord] = {}
        self._resolved: dict[tuple[str, str, str], Record] = {}
        self._routed: dict[tuple[str, str], Record] = {}
        self._sent: dict[tuple[str, str, str, str], JointRecord] = {}
        self._route_responses: dict[tuple[str, str, str], JointRecord] = {}
        self._timed: dict[tuple[str, str], JointRecord] = {}

    @classmethod
    def for_metrics(cls, metrics: Metrics) -> PrometheusHttpSink:
        """The sink of ``metrics``; one per instance, so all middlewares share its children."""
        return state.http_sinks.get(metrics, lambda: cls(metrics))

    def _joint(self, counters: tuple[Any, ...], histogram: Any = None) -> JointRecord:
        made = tuple(child for child in counters if child is not None)
        if not made and histogram is None:
            return _record_nothing_or_none
        return joint_record(made, histogram, lock=self._lock)

    def _bind(self, cache: dict[str, Record], key: str, value: str) -> Record:
        record = cache.get(value)
        if record is None:
            record = cache[value] = locked_add(self._families[key], self._lock, value)
        return record

    def request_started(self, method: str) -> None:
        record = self._in_progress.get(method)
        if record is None:
            record = self._bind(self._in_progress, "requests_in_progress", method)
        record(1)

    def request_finished(self, method: str) -> None:
        record = self._in_progress.get(method)
        if record is None:
            record = self._bind(self._in_progress, "requests_in_progress", method)
        record(-1)

    def request_entered(self) -> None:
        self._requests_entered(1)

    def _with_exemplar(
        self, key: str, labels: tuple[str, ...], amount: float, exemplar: Exemplar
    ) -> None:
        """The observation through prometheus_client's own method, which keeps exemplars."""
        family = self._families.get(key) or _family(self.metrics, key)
        if family is None:
            return
        child = family.labels(*labels) if labels else family
        if isinstance(child, Histogram):
            child.observe(amount, dict(exemplar))
        else:
            child.inc(amount, dict(exemplar))

    def response_left(self, latency: float | None, *, exemplar: Exemplar | None = None) -> None:
        if exemplar is None:
            self._response_left(latency)
        else:
            self._response_left(None)
            if latency is not None:
                self._with_exemplar("requests_latency_before", (), latency, exemplar)
        if latency is None:
            self._unknown_latency_including_middlewares(1)

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        record = self._received.get((method, transport))
        if record is None:
            families = self._families
            record = self._received[(method, transport)] = self._joint(
                (
                    _child(families["requests_by_method"], method),
                    _child(families["requests_by_transport"], transport),
                ),
                _family(self.metrics, "requests_body_bytes"),
            )
        record(body_bytes)
        if ajax:
            self._ajax(1)

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        record = self._resolved.get((view, transport, method))
        if record is None:
            record = self._resolved[(view, transport, method)] = locked_add(
                self._families["requests_by_view_transport_method"],
                self._lock,
                view,
                transport,
                method,
            )
        record(1)

    def request_routed(self, route: str, method: str) -> None:
        record = self._routed.get((route, method))
        if record is None:
            record = self._routed[(route, method)] = locked_add(
                _family(self.metrics, "requests_by_route_method"), self._lock, route, method
            )
        record(1)

    def template_rendered(self, template_name: str) -> None:
        self._bind(self._by_template, "responses_by_templatename", template_name)(1)

    def response_sent(
        self,
        status: str,
        view: str,
        method: str,
        charset: str,
        streaming: bool,
        body_bytes: int | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        if exemplar is not None:
            self._with_exemplar("responses_by_status", (status,), 1, exemplar)
            self._with_exemplar(
                "responses_by_status_view_method", (status, view, method), 1, exemplar
            )
            self._bind(self._by_charset, "responses_by_charset", charset)(1)
            if streaming:
                self._streaming(1)
            elif body_bytes is not None:
                self._response_body(body_bytes)
            return
        record = self._sent.get((status, view, method, charset))
        if record is None:
            families = self._families
            record = self._sent[(status, view, method, charset)] = self._joint(
                (
                    _child(families["responses_by_status"], status),
                    _child(families["responses_by_status_view_method"], status, view, method),
                    _child(families["responses_by_charset"], charset),
                ),
                _family(self.metrics, "responses_body_bytes"),
            )
        if streaming:
            record(None)
            self._streaming(1)
        else:
            record(body_bytes)

    def response_routed(
        self,
        route: str,
        status: str,
        method: str,
        latency: float | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        if exemplar is not None:
            self._with_exemplar(
                "responses_by_route_status_method", (route, status, method), 1, exemplar
            )
            if latency is not None:
                self._with_exemplar(
                    "requests_latency_by_route_method", (route, method), latency, exemplar
                )
            return
        record = self._route_responses.get((route, status, method))
        if record is None:
            by_status = self._families["responses_by_route_status_method"]
            latency_family = _family(self.metrics, "requests_latency_by_route_method")
            record = self._route_responses[(route, status, method)] = self._joint(
                (_child(by_status, route, status, method),), _child(latency_family, route, method)
            )
        record(latency)

    def exception_raised(self, exception_type: str, view: str) -> None:
        self._bind(self._by_exception_type, "exceptions_by_type", exception_type)(1)
        self._bind(self._by_exception_view, "exceptions_by_view", view)(1)

    def request_timed(
        self, view: str, method: str, latency: float | None, *, exemplar: Exemplar | None = None
    ) -> None:
        if latency is None:
            self._unknown_latency(1)
        elif exemplar is not None:
            self._with_exemplar(
                "requests_latency_by_view_method", (view, method), latency, exemplar
            )
        else:
            record = self._timed.get((view, method))
            if record is None:
                record = self._timed[(view, method)] = self._joint(
                    (),
                    _child(_family(self.metrics, "requests_latency_by_view_method"), view, method),
                )
            record(latency)


def _record_nothing_or_none(amount: float | None) -> None:
    """What an event whose families are all disabled records."""


# The families bound per label value, by the key Metrics holds them under.
_LABELLED: Final = (
    "requests_by_method",
    "requests_by_transport",
    "requests_by_view_transport_method",
    "responses_by_templatename",
    "responses_by_status",
    "responses_by_status_view_method",
    "responses_by_charset",
    "responses_by_route_status_method",
    "exceptions_by_type",
    "exceptions_by_view",
    "requests_in_progress",
)
