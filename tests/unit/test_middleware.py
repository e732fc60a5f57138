"""Both HTTP middlewares against the recording fake sink, in sync and async mode.

``Chain`` drives the pair the way Django's handler does (hooks in the same order,
the view's exception handed to ``process_exception`` and turned into a 500), so
each test states one request and the exact events it must produce. The clock is
replaced so that latencies are exact.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseServerError,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template import engines
from django.template.response import TemplateResponse
from django.test import RequestFactory, override_settings
from django.urls import ResolverMatch
from prometheus_client import CollectorRegistry, Counter, Histogram

from django_prometheus import http_labels, state
from django_prometheus import middleware as middleware_module
from django_prometheus.decorators import prometheus_exempt
from django_prometheus.middleware import (
    MetricOptions,
    Metrics,
    PrometheusAfterMiddleware,
    PrometheusBeforeMiddleware,
)
from django_prometheus.sinks.protocols import Exemplar
from django_prometheus.testing import FakeErrorSink, FakeHttpSink, RecordedCall, ResponseSent

if TYPE_CHECKING:
    from typing_extensions import Unpack

STEP = 0.25  # each clock read advances by this many seconds
factory = RequestFactory()


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = itertools.count()
    monkeypatch.setattr(middleware_module, "perf_counter", lambda: next(ticks) * STEP)


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> Iterator[None]:
    state.reset()
    yield
    state.reset()


def ok_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok")


def match_for(view: Callable[..., object], name: str | None = "ok") -> ResolverMatch:
    return ResolverMatch(view, (), {}, url_name=name)


View = Callable[[HttpRequest], HttpResponseBase]


@dataclass
class Chain:
    """Before -> (other middlewares) -> After -> handler, as Django builds it."""

    view: View | None
    match: ResolverMatch | None
    asynchronous: bool = False
    sink: FakeHttpSink = field(default_factory=FakeHttpSink)
    errors: FakeErrorSink = field(default_factory=FakeErrorSink)

    def __post_init__(self) -> None:
        inner = self._async_handler if self.asynchronous else self._handler
        self.after = PrometheusAfterMiddleware(inner, sink=self.sink, error_sink=self.errors)
        self.before = PrometheusBeforeMiddleware(self.after, sink=self.sink, error_sink=self.errors)

    def _resolve(self, request: HttpRequest) -> View | None:
        request.resolver_match = self.match
        return self.view if self.match is not None else None

    def _handler(self, request: HttpRequest) -> HttpResponseBase:
        view = self._resolve(request)
        if view is None:
            return HttpResponse(status=404)
        for hooks in (self.before, self.after):
            hooks.process_view(request, view, (), {})
        try:
            response = view(request)
        except Exception as error:
            self.after.process_exception(request, error)
            response = _converted(error)
        if isinstance(response, TemplateResponse):
            rendered = self.after.process_template_response(request, response)
            assert isinstance(rendered, TemplateResponse)
            return rendered.render()
        return response

    async def _async_handler(self, request: HttpRequest) -> HttpResponseBase:
        view = self._resolve(request)
        if view is None:
            return HttpResponse(status=404)
        for hooks in (self.before, self.after):
            await hooks.process_view(request, view, (), {})  # type: ignore[misc]
        try:
            response = view(request)
        except Exception as error:
            self.after.process_exception(request, error)
            response = _converted(error)
        if isinstance(response, TemplateResponse):
            rendered = await self.after.process_template_response(request, response)  # type: ignore[misc]
            assert isinstance(rendered, TemplateResponse)
            return rendered.render()
        return response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self.asynchronous:
            result = self.before(request)
            assert asyncio.iscoroutine(result)
            response: HttpResponseBase = asyncio.run(result)
            return response
        answered = self.before(request)
        assert isinstance(answered, HttpResponseBase)
        return answered


def _converted(error: Exception) -> HttpResponseBase:
    """What Django's handler answers for an exception no middleware handled."""
    return HttpResponse(status=404) if isinstance(error, Http404) else HttpResponseServerError()


MODES = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])

# Events of the families beyond the contract, tested on their own in test_middleware_routes.
_OURS = frozenset({"request_started", "request_finished", "request_routed", "response_routed"})


def contract(calls: list[RecordedCall]) -> list[RecordedCall]:
    """The calls of the contract's families, in order."""
    return [call for call in calls if call[0] not in _OURS]


Labelled = list[tuple[str, bool, dict[str, str]]]


def contract_labelled(labelled: Labelled) -> Labelled:
    """label_metric calls for the contract's families (2.5.0 made exactly these)."""
    return [
        call for call in labelled if "_by_route_" not in call[0] and "in_progress" not in call[0]
    ]


def events_of_ok(
    method: str, transport: str = "http", *, ajax: bool = False, body: int = 0
) -> list[tuple[object, ...]]:
    # Clock reads: Before start 0, After start 1, After end 2, Before end 3.
    return [
        ("request_entered",),
        ("request_received", method, transport, ajax, body),
        ("view_resolved", "ok", transport, method),
        ("response_sent", "200", "ok", method, "utf-8", False, 2),
        ("request_timed", "ok", method, 1 * STEP),
        ("response_left", 3 * STEP),
    ]


@MODES
@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("GET", "GET"),
        ("HEAD", "HEAD"),
        ("POST", "POST"),
        ("PUT", "PUT"),
        ("PATCH", "PATCH"),
        ("DELETE", "DELETE"),
        ("OPTIONS", "OPTIONS"),
        ("TRACE", "TRACE"),
        ("CONNECT", "CONNECT"),
        ("BREW", "<invalid method>"),
        ("PROPFIND", "<invalid method>"),
    ],
)
def test_methods_are_label_safe(asynchronous: bool, method: str, label: str) -> None:
    chain = Chain(ok_view, match_for(ok_view), asynchronous)
    response = chain(factory.generic(method, "/ok/"))
    assert response.status_code == 200
    assert contract(chain.sink.calls) == events_of_ok(label)
    assert chain.errors.calls == []


@MODES
@pytest.mark.parametrize(
    ("headers", "secure", "expected"),
    [
        ({}, False, events_of_ok("GET")),
        ({}, True, events_of_ok("GET", "https")),
        ({"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}, False, events_of_ok("GET", ajax=True)),
        ({"HTTP_X_REQUESTED_WITH": "Fetch"}, False, events_of_ok("GET")),
        ({"CONTENT_LENGTH": "1234"}, False, events_of_ok("GET", body=1234)),
        ({"CONTENT_LENGTH": ""}, False, events_of_ok("GET")),
        ({"CONTENT_LENGTH": "12abc"}, False, events_of_ok("GET")),
        ({"CONTENT_LENGTH": "-7"}, False, events_of_ok("GET")),
        ({"CONTENT_LENGTH": "9" * 5000}, False, events_of_ok("GET")),
    ],
    ids=[
        "http",
        "https",
        "ajax",
        "other-x-requested-with",
        "length",
        "empty-length",
        "malformed-length",
        "negative-length",
        "huge-length",
    ],
)
def test_transport_ajax_and_request_body(
    asynchronous: bool, headers: dict[str, str], secure: bool, expected: list[RecordedCall]
) -> None:
    chain = Chain(ok_view, match_for(ok_view), asynchronous)
    request = factory.get("/ok/", secure=secure, **headers)  # type: ignore[arg-type]
    assert chain(request).status_code == 200
    assert contract(chain.sink.calls) == expected


def test_request_body_size_of_a_real_post() -> None:
    chain = Chain(ok_view, match_for(ok_view))
    chain(factory.post("/ok/", data=b"x" * 300, content_type="application/octet-stream"))
    assert contract(chain.sink.calls)[1] == ("request_received", "POST", "http", False, 300)


def streaming_view(request: HttpRequest) -> HttpResponseBase:
    return StreamingHttpResponse(iter([b"a", b"b"]))


def status_view(status: int) -> View:
    def view(request: HttpRequest) -> HttpResponseBase:
        return HttpResponse(b"body", status=status, content_type="text/plain; charset=latin-1")

    return view


def raising_view(error: Exception) -> View:
    def view(request: HttpRequest) -> HttpResponseBase:
        raise error

    return view


@MODES
@pytest.mark.parametrize(
    ("view", "status", "charset", "streaming", "body"),
    [
        (status_view(201), "201", "latin-1", False, 4),
        (status_view(302), "302", "latin-1", False, 4),
        (status_view(503), "503", "latin-1", False, 4),
        (streaming_view, "200", "utf-8", True, None),
    ],
    ids=["201", "302", "503", "streaming"],
)
def test_responses(
    asynchronous: bool,
    view: View,
    status: str,
    charset: str,
    streaming: bool,
    body: int | None,
) -> None:
    chain = Chain(view, match_for(view, "thing"), asynchronous)
    assert chain(factory.get("/thing/")).status_code == int(status)
    assert contract(chain.sink.calls)[3:5] == [
        ("response_sent", status, "thing", "GET", charset, streaming, body),
        ("request_timed", "thing", "GET", 1 * STEP),
    ]


@MODES
def test_unresolved_request_counts_with_unnamed_view_at_response(asynchronous: bool) -> None:
    chain = Chain(None, None, asynchronous)
    assert chain(factory.get("/missing/")).status_code == 404
    assert contract(chain.sink.calls) == [
        ("request_received", "GET", "http", False, 0),
        ("response_sent", "404", "<unnamed view>", "GET", "utf-8", False, 0),
        ("request_timed", "<unnamed view>", "GET", 1 * STEP),
        ("request_entered",),
        ("response_left", 3 * STEP),
    ]


def test_unnamed_url_uses_the_resolver_view_name() -> None:
    chain = Chain(ok_view, match_for(ok_view, name=None))
    chain(factory.get("/"))
    assert contract(chain.sink.calls)[2] == (
        "view_resolved",
        "tests.unit.test_middleware.ok_view",
        "http",
        "GET",
    )


@MODES
@pytest.mark.parametrize(
    ("error", "type_name"),
    [(ValueError("boom"), "ValueError"), (PermissionDenied(), "PermissionDenied")],
)
def test_view_exception_counts_by_type_and_view_and_times_once(
    asynchronous: bool, error: Exception, type_name: str
) -> None:
    view = raising_view(error)
    chain = Chain(view, match_for(view, "broken"), asynchronous)
    assert chain(factory.get("/broken/")).status_code == 500
    # Clock: Before start 0, After start 1, exception 2, Before end 3.
    assert contract(chain.sink.calls) == [
        ("request_entered",),
        ("request_received", "GET", "http", False, 0),
        ("view_resolved", "broken", "http", "GET"),
        ("exception_raised", type_name, "broken"),
        ("request_timed", "broken", "GET", 1 * STEP),
        ("response_sent", "500", "broken", "GET", "utf-8", False, 0),
        ("response_left", 3 * STEP),
    ]


@MODES
def test_http404_from_a_view_is_not_an_exception(asynchronous: bool) -> None:
    view = raising_view(Http404("no such item"))
    chain = Chain(view, match_for(view, "item"), asynchronous)
    assert chain(factory.get("/item/")).status_code == 404
    assert [call[0] for call in contract(chain.sink.calls)] == [
        "request_entered",
        "request_received",
        "view_resolved",
        "response_sent",
        "request_timed",
        "response_left",
    ]
    sent = contract(chain.sink.calls)[3]
    assert isinstance(sent, ResponseSent)
    assert sent.status == "404"


def render_view(template_name: object) -> View:
    def view(request: HttpRequest) -> HttpResponseBase:
        return TemplateResponse(request, template_name, {})  # type: ignore[arg-type]

    return view


@MODES
@pytest.mark.parametrize(
    ("template", "label"),
    [
        ("page.html", "page.html"),
        (["missing.html", "page.html"], "['missing.html', 'page.html']"),
        (engines["django"].from_string("inline"), "<unnamed template>"),
    ],
    ids=["name", "list", "template-object"],
)
def test_template_responses_count_by_template_name(
    asynchronous: bool, template: object, label: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("templates")
    (directory / "page.html").write_text("page")
    view = render_view(template)
    templates = [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [directory]}
    ]
    with override_settings(TEMPLATES=templates):
        chain = Chain(view, match_for(view, "page"), asynchronous)
        assert chain(factory.get("/page/")).status_code == 200
    assert contract(chain.sink.calls)[3] == ("template_rendered", label)


def test_template_label_of_a_named_template_object() -> None:
    class Inner:
        name = "emails/welcome.html"

    class BackendTemplate:
        template = Inner()

    assert http_labels.template_label(BackendTemplate()) == "emails/welcome.html"


@MODES
def test_missing_start_times_count_unknown_latency(asynchronous: bool) -> None:
    sink = FakeHttpSink()
    before = PrometheusBeforeMiddleware(lambda request: HttpResponse(), sink=sink)
    after = PrometheusAfterMiddleware(lambda request: HttpResponse(), sink=sink)
    request = factory.get("/ok/")
    request.resolver_match = match_for(ok_view)
    after.process_response(request, HttpResponse(b"ok"))
    before.process_response(request, HttpResponse(b"ok"))
    assert contract(sink.calls) == [
        ("request_received", "GET", "http", False, 0),
        ("response_sent", "200", "ok", "GET", "utf-8", False, 2),
        ("request_timed", "ok", "GET", None),
        ("request_entered",),
        ("response_left", None),
    ]


def test_exception_without_start_time_counts_unknown_latency() -> None:
    sink = FakeHttpSink()
    after = PrometheusAfterMiddleware(lambda request: HttpResponse(), sink=sink)
    request = factory.get("/ok/")
    request.resolver_match = match_for(ok_view)
    after.process_exception(request, KeyError("k"))
    after.process_response(request, HttpResponseServerError())
    assert [call for call in sink.calls if call[0] in ("exception_raised", "request_timed")] == [
        ("exception_raised", "KeyError", "ok"),
        ("request_timed", "ok", "GET", None),
    ]


@MODES
@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("/healthz", True),
        ("/healthz/", False),
        ("/metrics", True),
        ("/metrics/x", True),
        ("/ok/", False),
    ],
)
def test_excluded_paths_touch_no_metric(asynchronous: bool, path: str, excluded: bool) -> None:
    with override_settings(PROMETHEUS_EXCLUDED_PATHS=[r"^/healthz$", r"^/metrics"]):
        chain = Chain(ok_view, match_for(ok_view), asynchronous)
    assert chain(factory.get(path)).status_code == 200
    assert contract(chain.sink.calls) == ([] if excluded else events_of_ok("GET"))


def test_nothing_is_excluded_by_default() -> None:
    assert PrometheusAfterMiddleware(ok_view, sink=FakeHttpSink())._excluded is None


@prometheus_exempt
def exempt_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok")


@prometheus_exempt
def exempt_raising_view(request: HttpRequest) -> HttpResponse:
    raise ValueError("not counted")


@MODES
@pytest.mark.parametrize("view", [exempt_view, exempt_raising_view])
def test_exempt_views_touch_no_metric(asynchronous: bool, view: View) -> None:
    chain = Chain(view, match_for(view), asynchronous)
    chain(factory.get("/ok/"))
    assert contract(chain.sink.calls) == []


def test_exempt_view_answered_before_our_view_hook_touches_no_metric() -> None:
    # An earlier middleware's process_view answered: ours never ran, the resolver did.
    sink = FakeHttpSink()

    def handler(request: HttpRequest) -> HttpResponse:
        request.resolver_match = match_for(exempt_view)
        return HttpResponse(b"cached")

    after = PrometheusAfterMiddleware(handler, sink=sink)
    before = PrometheusBeforeMiddleware(after, sink=sink)
    before(factory.get("/ok/"))
    assert contract(sink.calls) == []


class BrokenSink(FakeHttpSink):
    def request_received(self, method: str, transport: str, ajax: bool, body_bytes: int) -> None:
        raise RuntimeError("sink down")

    def response_left(self, latency: float | None, *, exemplar: Exemplar | None = None) -> None:
        raise RuntimeError("sink down")


@MODES
def test_a_failing_sink_leaves_the_response_untouched_and_is_counted(
    asynchronous: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="django_prometheus")
    sink = BrokenSink()
    chain = Chain(ok_view, match_for(ok_view), asynchronous, sink=sink)
    response = chain(factory.get("/ok/"))
    assert isinstance(response, HttpResponse)
    assert (response.status_code, response.content) == (200, b"ok")
    assert chain.errors.calls == [("instrumentation_failed", "http")] * 2
    assert len(caplog.records) == 1
    assert str(caplog.records[0].exc_info[1]) == "sink down"  # type: ignore[index]


class DenyingHook(PrometheusAfterMiddleware):
    """A subclass's own hook: its exception is the host's, as under MiddlewareMixin."""

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        raise PermissionDenied("subclass says no")


class AnsweringHook(PrometheusBeforeMiddleware):
    """A subclass's process_request that answers short-circuits the request."""

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        super().process_request(request)
        return HttpResponse(b"from the hook", status=503)


def test_a_raising_subclass_hook_raises_as_under_middleware_mixin() -> None:
    errors = FakeErrorSink()
    middleware = DenyingHook(
        lambda request: HttpResponse(b"view"), sink=FakeHttpSink(), error_sink=errors
    )
    with pytest.raises(PermissionDenied, match="subclass says no"):
        middleware(factory.get("/"))
    assert errors.calls == []


def test_a_subclass_hook_response_short_circuits_and_is_recorded() -> None:
    sink = FakeHttpSink()

    def view(request: HttpRequest) -> HttpResponse:
        raise AssertionError("the view must not run")

    middleware = AnsweringHook(view, sink=sink)
    response = middleware(factory.get("/"))
    assert isinstance(response, HttpResponse)
    assert (response.status_code, response.content) == (503, b"from the hook")
    assert [call.event for call in contract(sink.calls)] == ["request_entered", "response_left"]


async def test_async_subclass_hooks_behave_the_same() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        raise AssertionError("the view must not run")

    response = await AnsweringHook(view, sink=FakeHttpSink())(factory.get("/"))  # type: ignore[misc]
    assert response.status_code == 503
    with pytest.raises(PermissionDenied):
        await DenyingHook(view, sink=FakeHttpSink())(factory.get("/"))  # type: ignore[misc]


def test_host_exceptions_pass_through_untouched() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        raise LookupError("the host's own error")

    middleware = PrometheusBeforeMiddleware(handler, sink=FakeHttpSink())
    with pytest.raises(LookupError, match="the host's own error"):
        middleware(factory.get("/"))


def test_sync_mode_is_plain_functions() -> None:
    chain = Chain(ok_view, match_for(ok_view))
    for middleware in (chain.before, chain.after):
        assert not iscoroutinefunction(middleware)
        assert not iscoroutinefunction(middleware.process_view)
    assert not iscoroutinefunction(chain.after.process_template_response)


def test_async_mode_hooks_are_coroutines_that_run_on_the_loop_thread() -> None:
    chain = Chain(ok_view, match_for(ok_view), asynchronous=True)
    middlewares: list[PrometheusBeforeMiddleware | PrometheusAfterMiddleware]
    middlewares = [chain.before, chain.after]
    for middleware in middlewares:
        assert iscoroutinefunction(middleware.process_view)
        assert iscoroutinefunction(middleware)
    assert iscoroutinefunction(chain.after.process_template_response)
    # Django names the hook through __self__ when it complains about its result.
    assert getattr(chain.after.process_template_response, "__self__", None) is chain.after
    # Django adapts process_exception to sync in every mode: it stays a plain method.
    assert not iscoroutinefunction(chain.after.process_exception)

    seen: list[int] = []

    class Recording(FakeHttpSink):
        def request_received(self, *args: object) -> None:
            seen.append(threading.get_ident())

    chain = Chain(ok_view, match_for(ok_view), asynchronous=True, sink=Recording())

    async def main() -> int:
        await chain.before(factory.get("/ok/"))  # type: ignore[misc]
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert seen == [loop_thread]


# --- the generic path: label_metric and metrics_cls overrides ----------------------

private_registry = CollectorRegistry()


class PrivateMetrics(Metrics):
    registry = private_registry


class LabelRecording(PrometheusAfterMiddleware):
    metrics_cls = PrivateMetrics
    labelled: ClassVar[list[tuple[str, bool, dict[str, str]]]] = []

    def label_metric(  # type: ignore[override]
        self,
        metric: Counter | Histogram,
        request: HttpRequest,
        response: HttpResponseBase | None = None,
        **labels: str,
    ) -> Counter | Histogram:
        self.labelled.append((metric._name, response is not None, labels))
        return super().label_metric(metric, request, response, **labels)


class BeforeLabelRecording(PrometheusBeforeMiddleware):
    metrics_cls = PrivateMetrics
    labelled: ClassVar[list[tuple[str, bool, dict[str, str]]]] = []

    def label_metric(  # type: ignore[override]
        self,
        metric: Counter | Histogram,
        request: HttpRequest,
        response: HttpResponseBase | None = None,
        **labels: str,
    ) -> Counter | Histogram:
        self.labelled.append((metric._name, response is not None, labels))
        return super().label_metric(metric, request, response, **labels)


def test_default_classes_take_the_fast_path_and_overrides_the_generic_one() -> None:
    assert not PrometheusAfterMiddleware.uses_generic_path()
    assert not PrometheusBeforeMiddleware.uses_generic_path()
    assert LabelRecording.uses_generic_path()

    class OtherMetrics(PrometheusAfterMiddleware):
        metrics_cls = PrivateMetrics

    assert OtherMetrics.uses_generic_path()


def test_a_label_metric_subclass_given_a_sink_records_into_it() -> None:
    sink = FakeHttpSink()
    LabelRecording.labelled.clear()
    middleware = LabelRecording(ok_view, sink=sink)
    middleware(factory.get("/"))
    assert LabelRecording.labelled == []
    assert "response_sent" in sink.events()


@MODES
def test_generic_path_calls_label_metric_like_the_established_package(asynchronous: bool) -> None:
    LabelRecording.labelled.clear()
    BeforeLabelRecording.labelled.clear()

    def handler(request: HttpRequest) -> HttpResponseBase:
        request.resolver_match = match_for(ok_view)
        return HttpResponse(b"ok")

    async def async_handler(request: HttpRequest) -> HttpResponseBase:
        return handler(request)

    after = LabelRecording(async_handler if asynchronous else handler)
    before = BeforeLabelRecording(after)
    request = factory.get("/ok/", HTTP_X_REQUESTED_WITH="XMLHttpRequest")

    if asynchronous:
        result = before(request)
        assert asyncio.iscoroutine(result)
        asyncio.run(result)
    else:
        before(request)
    view_labels = {"view": "ok", "method": "GET"}
    assert contract_labelled(LabelRecording.labelled) == [
        ("django_http_requests_total_by_method", False, {"method": "GET"}),
        ("django_http_requests_total_by_transport", False, {"transport": "http"}),
        ("django_http_ajax_requests", False, {}),
        ("django_http_requests_body_total_bytes", False, {}),
        ("django_http_responses_total_by_status", True, {"status": "200"}),
        (
            "django_http_responses_total_by_status_view_method",
            True,
            {"status": "200", **view_labels},
        ),
        ("django_http_responses_total_by_charset", True, {"charset": "utf-8"}),
        ("django_http_responses_body_total_bytes", True, {}),
        ("django_http_requests_latency_seconds_by_view_method", True, view_labels),
    ]
    assert contract_labelled(BeforeLabelRecording.labelled) == [
        ("django_http_requests_before_middlewares", False, {}),
        ("django_http_responses_before_middlewares", True, {}),
        ("django_http_requests_latency_including_middlewares_seconds", True, {}),
    ]
    assert (
        private_registry.get_sample_value(
            "django_http_requests_latency_seconds_by_view_method_sum", view_labels
        )
        is not None
    )


def test_generic_path_view_template_and_exception_labels() -> None:
    LabelRecording.labelled.clear()
    after = LabelRecording(ok_view)
    request = factory.get("/ok/")
    request.resolver_match = match_for(ok_view)
    after.process_request(request)
    after.process_view(request, ok_view, (), {})
    after.process_template_response(request, TemplateResponse(request, "page.html"))
    after.process_exception(request, ValueError("x"))
    names = [
        (name, has_response, labels)
        for name, has_response, labels in contract_labelled(LabelRecording.labelled)
    ]
    assert names[3:] == [
        (
            "django_http_requests_total_by_view_transport_method",
            False,
            {"view": "ok", "transport": "http", "method": "GET"},
        ),
        ("django_http_responses_total_by_templatename", True, {"templatename": "page.html"}),
        ("django_http_exceptions_total_by_type", False, {"type": "ValueError"}),
        ("django_http_exceptions_total_by_view", False, {"view": "ok"}),
        (
            "django_http_requests_latency_seconds_by_view_method",
            False,
            {"view": "ok", "method": "GET"},
        ),
    ]


class BrokenLabels(PrometheusAfterMiddleware):
    metrics_cls = PrivateMetrics

    def label_metric(  # type: ignore[override]
        self, metric: Counter, request: HttpRequest, response: object = None, **labels: str
    ) -> Counter:
        raise KeyError("custom label missing")


def test_a_broken_label_metric_leaves_the_request_alone() -> None:
    errors = FakeErrorSink()
    answer = HttpResponse(b"fine")

    def handler(request: HttpRequest) -> HttpResponse:
        request.resolver_match = match_for(ok_view)
        return answer

    middleware = BrokenLabels(handler, error_sink=errors)
    assert middleware(factory.get("/ok/")) is answer
    assert errors.calls == [("instrumentation_failed", "http")]


# --- Metrics ------------------------------------------------------------------------


def test_get_instance_is_one_instance_per_class() -> None:
    registry = CollectorRegistry()

    class Mine(Metrics):
        pass

    Mine.registry = registry
    first = Mine.get_instance()
    assert Mine.get_instance() is first
    assert Mine._instance is first
    assert Metrics.get_instance() is not first
    assert type(Metrics.get_instance()) is Metrics


class ExtraLabels(Metrics):
    """The documented way: extend labelnames in place for chosen families."""

    seen: ClassVar[list[tuple[str, list[str]]]] = []

    def register_metric(  # type: ignore[override]
        self,
        metric_cls: type[Counter],
        name: str,
        documentation: str,
        labelnames: list[str] = [],  # noqa: B006 - the documented signature
        **kwargs: Unpack[MetricOptions],
    ) -> Counter:
        if name == "django_http_responses_total_by_status_view_method":
            labelnames.extend(("tenant",))
        self.seen.append((name, list(labelnames)))
        return super().register_metric(metric_cls, name, documentation, labelnames, **kwargs)


def test_register_metric_gets_lists_it_may_extend() -> None:
    ExtraLabels.seen.clear()
    metrics = ExtraLabels(
        registry=CollectorRegistry(), namespace="", latency_buckets=(1.0, float("inf"))
    )
    # The contract's 19 families, our two route counters and the in-progress gauge.
    assert len(ExtraLabels.seen) == 22
    assert (
        "django_http_responses_total_by_status_view_method",
        ["status", "view", "method", "tenant"],
    ) in ExtraLabels.seen
    assert metrics.responses_by_status_view_method._labelnames == (
        "status",
        "view",
        "method",
        "tenant",
    )
    assert metrics.requests_latency_before._upper_bounds == [1.0, float("inf")]


def test_a_clash_in_one_registry_is_a_clear_error() -> None:
    registry = CollectorRegistry()
    Metrics(registry=registry, namespace="", latency_buckets=(1.0, float("inf")))
    with pytest.raises(ImproperlyConfigured) as raised:
        ExtraLabels(registry=registry, namespace="", latency_buckets=(1.0, float("inf")))
    message = str(raised.value)
    assert message.startswith(
        "ExtraLabels could not register its HTTP metrics: "
        "Duplicated timeseries in CollectorRegistry"
    )
    assert message.endswith(
        "give PrometheusBeforeMiddleware and PrometheusAfterMiddleware the same metrics_cls, "
        "or give the Metrics subclass a registry of its own "
        "(class attribute `registry = CollectorRegistry()`)."
    )


def test_a_clash_half_way_unregisters_what_was_registered() -> None:
    registry = CollectorRegistry()
    squatter = Counter("django_http_exceptions_total_by_view", "Someone else's.", registry=registry)
    with pytest.raises(ImproperlyConfigured, match="django_http_exceptions_total_by_view"):
        Metrics(registry=registry, namespace="", latency_buckets=(1.0, float("inf")))
    assert [family.name for family in registry.collect()] == [squatter._name]


def test_namespace_and_buckets_come_from_the_settings() -> None:
    with override_settings(
        PROMETHEUS_METRIC_NAMESPACE="shop", PROMETHEUS_LATENCY_BUCKETS=(0.5, float("inf"))
    ):
        metrics = Metrics(registry=CollectorRegistry())
    assert metrics.namespace == "shop"
    assert metrics.latency_buckets == (0.5, float("inf"))
    assert metrics.requests_total._name == "shop_django_http_requests_before_middlewares"
