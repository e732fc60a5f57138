"""What both HTTP middlewares share: sync and async modes, the one recording path,
exclusion and exemption, and keeping our failures from the host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from functools import cached_property
from typing import ClassVar, Final, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from prometheus_client.metrics import MetricWrapperBase

from django_prometheus.config import get_config
from django_prometheus.decorators import is_prometheus_exempt
from django_prometheus.exemplars import exemplar_source, valid_exemplar
from django_prometheus.http_metrics import Metrics
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.label_metric import LabelMetricSink
from django_prometheus.sinks.prometheus import PrometheusHttpSink
from django_prometheus.sinks.protocols import ErrorSink, Exemplar, HttpSink
from django_prometheus.sinks.provider import SinkBundle, SinkSlot, fixed_slot

__all__ = ["ENTERED", "EXEMPT", "LABEL_METRIC", "NO_EXEMPLAR", "PrometheusMiddlewareBase"]

_EXEMPLAR_STATE: Final = "_django_prometheus_exemplar"
NO_EXEMPLAR: Final[Mapping[str, Exemplar]] = {}


class _Recording(Enum):
    LABEL_METRIC = "label_metric"  # a subclass's label_metric / metrics_cls records


LABEL_METRIC: Final = _Recording.LABEL_METRIC
"""What a slot holds for a subclass's label_metric: hooks test for it before using a sink."""


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EXEMPT: Final = _Marker("<exempt>")
ENTERED: Final = _Marker("<entered>")


_MetricT = TypeVar("_MetricT", bound=MetricWrapperBase)

_EXEMPT_CACHE_LIMIT: Final = 4096


_SyncGetResponse = Callable[[HttpRequest], HttpResponseBase]
_AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]
_GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class PrometheusMiddlewareBase:
    """What both middlewares share: modes, the sink or generic path, exclusion, safety."""

    sync_capable: ClassVar[bool] = True
    async_capable: ClassVar[bool] = True
    metrics_cls: ClassVar[type[Metrics]] = Metrics
    _state_key: ClassVar[str]
    _hooks_to_adapt: ClassVar[tuple[str, ...]] = ("process_view", "process_template_response")

    def __init__(
        self,
        get_response: _GetResponse,
        *,
        sink: HttpSink | None = None,
        error_sink: ErrorSink | None = None,
    ) -> None:
        self.get_response = get_response
        self._sync_get_response = cast("_SyncGetResponse", get_response)
        self._async_get_response = cast("_AsyncGetResponse", get_response)
        self._error_sink = error_sink
        self._http_slot: SinkSlot[HttpSink | _Recording] = (
            fixed_slot(sink) if sink is not None else SinkSlot(self._bind_http_sink)
        )
        if self.uses_generic_path():
            self.metrics  # noqa: B018 - make the families at startup, not at the first request
        else:
            self._own_sink: HttpSink = PrometheusHttpSink.for_metrics(self.metrics)
        config = get_config()
        self._excluded = config.path_exclusion
        self._exemplars = exemplar_source(config.exemplars)
        self._exempt_views: dict[object, bool] = {}
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
            self._adapt_hooks_to_async()

    @classmethod
    def uses_generic_path(cls) -> bool:
        """True when a subclass changes how metrics are labelled or made."""
        return (
            cls.metrics_cls is not Metrics
            or cls.label_metric is not PrometheusMiddlewareBase.label_metric
        )

    @cached_property
    def metrics(self) -> Metrics:
        return self.metrics_cls.get_instance()

    def _bind_http_sink(self, bundle: SinkBundle | None) -> HttpSink | _Recording:
        if bundle is not None:
            return bundle.http
        return _Recording.LABEL_METRIC if self.uses_generic_path() else self._own_sink

    def _sink(self, request: HttpRequest, response: HttpResponseBase | None = None) -> HttpSink:
        """The one way every hook records: the current sink, or label_metric's adapter."""
        slot = self._http_slot
        sink = slot.sink
        if sink is None:
            sink = slot.resolve()
        if sink is _Recording.LABEL_METRIC:
            return LabelMetricSink(self.label_metric, self.metrics, request, response)
        return sink

    def label_metric(
        self,
        metric: _MetricT,
        request: HttpRequest,
        response: HttpResponseBase | None = None,
        **labels: str,
    ) -> _MetricT:
        """The child of ``metric`` to record for this request; override to add labels."""
        return metric.labels(**labels) if labels else metric

    def _adapt_hooks_to_async(self) -> None:
        # Django wraps a sync hook in sync_to_async (a thread hop per call) when the
        # handler is async; ours only touch memory, so they run on the event loop.
        # The adapters are bound methods: Django reads hook.__self__ for messages.
        for name in self._hooks_to_adapt:
            hook = getattr(type(self), name, None)
            if hook is None or iscoroutinefunction(hook):
                continue
            setattr(self, name, getattr(self, f"_async_{name}"))

    async def _async_process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., object],
        *view_args: object,
        **view_kwargs: object,
    ) -> HttpResponseBase | None:
        hook: Callable[..., HttpResponseBase | None] = type(self).process_view  # type: ignore[attr-defined]
        return hook(self, request, view_func, *view_args, **view_kwargs)

    async def _async_process_template_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        hook: Callable[..., HttpResponseBase] = type(self).process_template_response  # type: ignore[attr-defined]
        return hook(self, request, response)

    def _exemplar_keywords(self, request: HttpRequest) -> Mapping[str, Exemplar]:
        """``{"exemplar": labels}`` for the events that take one, ``{}`` without a source
        (so sinks written before exemplars keep working). Asked once per request."""
        if self._exemplars is None:
            return NO_EXEMPLAR
        state = request.__dict__
        keywords: Mapping[str, Exemplar] | None = state.get(_EXEMPLAR_STATE)
        if keywords is None:
            try:
                exemplar = valid_exemplar(self._exemplars(request))
            except Exception as error:  # the source's own error: counted, no exemplar
                self._failed(error)
                exemplar = None
            keywords = NO_EXEMPLAR if exemplar is None else {"exemplar": exemplar}
            state[_EXEMPLAR_STATE] = keywords
        return keywords

    def _failed(self, error: Exception) -> None:
        instrumentation_failed("http", error, self._error_sink)

    def _is_exempt(self, view: object) -> bool:
        cache = self._exempt_views
        try:
            return cache[view]
        except KeyError:
            exempt = is_prometheus_exempt(view)
            if len(cache) < _EXEMPT_CACHE_LIMIT:
                cache[view] = exempt
            return exempt
        except TypeError:  # an unhashable view callable
            return is_prometheus_exempt(view)

    def _excluded_path(self, request: HttpRequest) -> bool:
        excluded = self._excluded
        if excluded is not None and excluded.match(request.path_info):
            request.__dict__[self._state_key] = EXEMPT
            return True
        return False

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._async:
            return self.__acall__(request)
        if self._excluded is not None and self._excluded_path(request):
            return self._sync_get_response(request)
        # Our own hooks never raise (each guards its recording); a subclass's override
        # behaves as under Django's MiddlewareMixin: its response short-circuits the
        # request and its exception is the host's.
        response = self.process_request(request)
        if response is None:
            try:
                response = self._sync_get_response(request)
            except BaseException:
                self._abandoned(request)
                raise
        return self.process_response(request, response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self._excluded is not None and self._excluded_path(request):
            return await self._async_get_response(request)
        response = self.process_request(request)
        if response is None:
            try:
                response = await self._async_get_response(request)
            except BaseException:  # CancelledError too: the client went away under ASGI
                self._abandoned(request)
                raise
        return self.process_response(request, response)

    def _abandoned(self, request: HttpRequest) -> None:
        """The request left without a response (what Django raises past its handlers)."""

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        raise NotImplementedError

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        raise NotImplementedError
