"""The HTTP middlewares through Django's real handlers (WSGI ``Client``, ASGI ``AsyncClient``).

Each test compares every ``django_http_*`` sample before and after one request
with the exact deltas the contract asks for (histograms through ``_count`` and
the body sizes' ``_sum``; latencies vary, so their sums and buckets are left
out). Nothing else may change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.http.response import HttpResponseBase
from django.test import AsyncClient, Client, override_settings
from prometheus_client import REGISTRY, CollectorRegistry
from pytest_django.fixtures import Settings

from tests.testapp import views_http
from tests.testapp.custom_metrics import CUSTOM_REGISTRY, EXTENDED_METRICS

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels]

DEFAULT_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]


def labels(**values: str) -> Labels:
    return tuple(sorted(values.items()))


def samples(
    registry: CollectorRegistry = REGISTRY, prefix: str = "django_http_"
) -> dict[Sample, float]:
    found: dict[Sample, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            name = sample.name
            if not name.startswith(prefix) or name.endswith(("_created", "_bucket")):
                continue
            if name.endswith("_sum") and "latency" in name:
                continue
            found[(name, labels(**sample.labels))] = sample.value
    return found


def changes(before: dict[Sample, float], after: dict[Sample, float]) -> dict[Sample, float]:
    return {
        key: after.get(key, 0.0) - before.get(key, 0.0)
        for key in before.keys() | after.keys()
        if after.get(key, 0.0) != before.get(key, 0.0)
    }


@dataclass
class Delta:
    """Takes the before-picture; ``.since()`` gives what changed."""

    registry: CollectorRegistry = REGISTRY

    def __post_init__(self) -> None:
        self.before = samples(self.registry)

    def since(self) -> dict[Sample, float]:
        return changes(self.before, samples(self.registry))


def expected(
    *,
    view: str,
    response: HttpResponseBase,
    method: str = "GET",
    transport: str = "http",
    ajax: bool = False,
    request_body: int = 0,
    resolved: bool = True,
    exception: str | None = None,
    template: str | None = None,
    charset: str = "utf-8",
    route: str | None = None,
) -> dict[Sample, float]:
    """The deltas one request makes: the metric contract's, then ours (by route, in
    progress). ``route`` defaults to what Django's resolver says for the request."""
    status = str(response.status_code)
    if route is None:
        route = response.resolver_match.route if resolved else "<unmatched>"  # type: ignore[attr-defined]
    deltas: dict[Sample, float] = {
        ("django_http_requests_before_middlewares_total", ()): 1,
        ("django_http_responses_before_middlewares_total", ()): 1,
        ("django_http_requests_latency_including_middlewares_seconds_count", ()): 1,
        ("django_http_requests_total_by_method_total", labels(method=method)): 1,
        ("django_http_requests_total_by_transport_total", labels(transport=transport)): 1,
        ("django_http_ajax_requests_total", ()): 1 if ajax else 0,
        ("django_http_requests_body_total_bytes_count", ()): 1,
        ("django_http_requests_body_total_bytes_sum", ()): request_body,
        ("django_http_responses_total_by_status_total", labels(status=status)): 1,
        (
            "django_http_responses_total_by_status_view_method_total",
            labels(status=status, view=view, method=method),
        ): 1,
        ("django_http_responses_total_by_charset_total", labels(charset=charset)): 1,
        (
            "django_http_requests_latency_seconds_by_view_method_count",
            labels(view=view, method=method),
        ): 1,
    }
    if resolved:
        key = labels(view=view, transport=transport, method=method)
        deltas[("django_http_requests_total_by_view_transport_method_total", key)] = 1
    if response.streaming:
        deltas[("django_http_responses_streaming_total", ())] = 1
    else:
        body = len(response.content)  # type: ignore[attr-defined]
        deltas[("django_http_responses_body_total_bytes_count", ())] = 1
        deltas[("django_http_responses_body_total_bytes_sum", ())] = body
    if exception is not None:
        deltas[("django_http_exceptions_total_by_type_total", labels(type=exception))] = 1
        deltas[("django_http_exceptions_total_by_view_total", labels(view=view))] = 1
    if template is not None:
        deltas[
            ("django_http_responses_total_by_templatename_total", labels(templatename=template))
        ] = 1
    deltas[
        ("django_http_requests_total_by_route_method_total", labels(route=route, method=method))
    ] = 1
    deltas[
        (
            "django_http_responses_total_by_route_status_method_total",
            labels(route=route, status=status, method=method),
        )
    ] = 1
    # Until the server closes it, a streaming response is still in progress.
    deltas[("django_http_requests_in_progress", labels(method=method))] = int(response.streaming)
    return {key: value for key, value in deltas.items() if value}


@pytest.fixture
def wsgi() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def asgi() -> AsyncClient:
    return AsyncClient(raise_request_exception=False)


@pytest.fixture(autouse=True)
def _default_middleware() -> Iterator[None]:
    with override_settings(MIDDLEWARE=DEFAULT_MIDDLEWARE):
        yield


# --- one request, every delta ------------------------------------------------------

GET_CASES = [
    # path, view label, expected extras
    ("/http/ok/", "http-ok", {}),
    ("/http/unnamed/", "tests.testapp.views_http.unnamed", {}),
    ("/http/nowhere/", "<unnamed view>", {"resolved": False}),
    ("/http/missing/", "http-missing", {}),
    ("/http/boom/", "http-boom", {"exception": "ValueError"}),
    ("/http/stream/", "http-stream", {}),
    ("/http/download/", "http-download", {}),
    ("/http/page/", "http-page", {"template": "http/page.html"}),
]
STATUS = {"/http/nowhere/": 404, "/http/missing/": 404, "/http/boom/": 500}


@pytest.mark.parametrize(("path", "view", "extra"), GET_CASES, ids=[case[0] for case in GET_CASES])
def test_wsgi_get(wsgi: Client, path: str, view: str, extra: dict[str, object]) -> None:
    delta = Delta()
    response = wsgi.get(path)
    assert response.status_code == STATUS.get(path, 200)
    assert delta.since() == expected(view=view, response=response, **extra)  # type: ignore[arg-type]


ASYNC_CASES = [
    *GET_CASES,
    ("/http/async/ok/", "http-async-ok", {}),
    ("/http/async/boom/", "http-async-boom", {"exception": "ValueError"}),
    ("/http/async/stream/", "http-async-stream", {}),
    ("/http/async/page/", "http-async-page", {"template": "http/page.html"}),
]
STATUS["/http/async/boom/"] = 500


@pytest.mark.parametrize(
    ("path", "view", "extra"), ASYNC_CASES, ids=[case[0] for case in ASYNC_CASES]
)
async def test_asgi_get(asgi: AsyncClient, path: str, view: str, extra: dict[str, object]) -> None:
    delta = Delta()
    response = await asgi.get(path)
    assert response.status_code == STATUS.get(path, 200)
    assert delta.since() == expected(view=view, response=response, **extra)  # type: ignore[arg-type]


def test_streaming_content_is_not_read_by_us(wsgi: Client) -> None:
    response = wsgi.get("/http/download/")
    assert response.streaming
    assert b"".join(response.streaming_content) == views_http.PAYLOAD  # type: ignore[attr-defined]


def test_post_with_a_body(wsgi: Client) -> None:
    delta = Delta()
    response = wsgi.post("/http/echo/", data=b"x" * 300, content_type="application/octet-stream")
    assert response.json() == {"received": 300}
    assert delta.since() == expected(
        view="http-echo", response=response, method="POST", request_body=300
    )


async def test_async_post_with_a_body(asgi: AsyncClient) -> None:
    delta = Delta()
    response = await asgi.post("/http/echo/", data=b"y" * 70, content_type="text/plain")
    assert response.json() == {"received": 70}
    assert delta.since() == expected(
        view="http-echo", response=response, method="POST", request_body=70
    )


def test_invalid_method_is_never_a_label(wsgi: Client) -> None:
    delta = Delta()
    response = wsgi.generic("BREW", "/http/ok/")
    assert response.status_code == 200
    assert delta.since() == expected(view="http-ok", response=response, method="<invalid method>")


def test_https(wsgi: Client) -> None:
    delta = Delta()
    response = wsgi.get("/http/ok/", secure=True)
    assert delta.since() == expected(view="http-ok", response=response, transport="https")


@pytest.mark.parametrize(
    ("forwarded", "transport"), [("https", "https"), ("http", "http"), (None, "http")]
)
def test_https_behind_a_proxy_follows_secure_proxy_ssl_header(
    wsgi: Client, settings: Settings, forwarded: str | None, transport: str
) -> None:
    headers = {} if forwarded is None else {"X-Forwarded-Proto": forwarded}
    wsgi.get("/http/ok/", headers=headers)  # the setting is read after this request
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    delta = Delta()
    response = wsgi.get("/http/ok/", headers=headers)
    assert delta.since() == expected(view="http-ok", response=response, transport=transport)


async def test_async_https(asgi: AsyncClient) -> None:
    delta = Delta()
    response = await asgi.get("/http/async/ok/", secure=True)
    assert delta.since() == expected(view="http-async-ok", response=response, transport="https")


def test_ajax(wsgi: Client) -> None:
    delta = Delta()
    response = wsgi.get("/http/ok/", headers={"X-Requested-With": "XMLHttpRequest"})
    assert delta.since() == expected(view="http-ok", response=response, ajax=True)


def test_malformed_content_length_does_not_break_the_request(wsgi: Client) -> None:
    delta = Delta()
    response = wsgi.get("/http/ok/", CONTENT_LENGTH="twelve")
    assert response.status_code == 200
    assert delta.since() == expected(view="http-ok", response=response)


# --- exclusions -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/http/healthz/", "/http/exempt-boom/", "/http/ok/"])
def test_excluded_requests_touch_no_metric(path: str) -> None:
    with override_settings(PROMETHEUS_EXCLUDED_PATHS=[r"^/http/ok/$"]):
        client = Client(raise_request_exception=False)
        delta = Delta()
        response = client.get(path)
    assert response.status_code == (500 if "boom" in path else 200)
    assert delta.since() == {}


async def test_async_excluded_requests_touch_no_metric() -> None:
    with override_settings(PROMETHEUS_EXCLUDED_PATHS=[r"^/http/async/"]):
        client = AsyncClient(raise_request_exception=False)
        delta = Delta()
        assert (await client.get("/http/async/ok/")).status_code == 200
        assert (await client.get("/http/healthz/")).status_code == 200
    assert delta.since() == {}


# --- the established extension API --------------------------------------------------

CUSTOM_MIDDLEWARE = [
    "tests.testapp.custom_metrics.AppMetricsBeforeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "tests.testapp.custom_metrics.AppMetricsAfterMiddleware",
]
CUSTOM_LABELS = labels(view_type="foo", user_agent_type="browser")


def with_custom_labels(deltas: dict[Sample, float]) -> dict[Sample, float]:
    def extended(name: str) -> bool:
        return any(name.startswith(metric) for metric in EXTENDED_METRICS)

    return {
        (name, tuple(sorted(key + CUSTOM_LABELS)) if extended(name) else key): value
        for (name, key), value in deltas.items()
    }


@pytest.mark.parametrize(
    ("path", "view", "extra"),
    [("/http/ok/", "http-ok", {}), ("/http/boom/", "http-boom", {"exception": "ValueError"})],
)
def test_custom_labels_pair_exports_the_extra_labels(
    path: str, view: str, extra: dict[str, object]
) -> None:
    with override_settings(MIDDLEWARE=CUSTOM_MIDDLEWARE):
        client = Client(raise_request_exception=False)
        default, custom = Delta(), Delta(CUSTOM_REGISTRY)
        response = client.get(path)
    assert custom.since() == with_custom_labels(
        expected(view=view, response=response, **extra)  # type: ignore[arg-type]
    )
    assert default.since() == {}


async def test_custom_labels_pair_under_asgi() -> None:
    with override_settings(MIDDLEWARE=CUSTOM_MIDDLEWARE):
        client = AsyncClient()
        custom = Delta(CUSTOM_REGISTRY)
        response = await client.get("/http/async/page/")
    assert custom.since() == with_custom_labels(
        expected(view="http-async-page", response=response, template="http/page.html")
    )


def test_a_broken_label_metric_never_breaks_the_request(wsgi: Client) -> None:
    middleware = [*DEFAULT_MIDDLEWARE[:2], "tests.testapp.middleware_http.BrokenLabelsAfter"]
    errors = ("django_prometheus_instrumentation_errors_total", labels(component="http"))
    with override_settings(MIDDLEWARE=middleware):
        client = Client()
        before = samples(prefix="django_prometheus_").get(errors, 0.0)
        response = client.get("/http/ok/")
    assert (response.status_code, response.content) == (200, views_http.PAYLOAD)
    # One failure in process_view (request labels), one in process_response.
    assert samples(prefix="django_prometheus_")[errors] - before == 2


# --- threads: no hop of ours under ASGI, no event loop under WSGI -------------------

RECORDING_MIDDLEWARE = [
    "tests.testapp.middleware_http.ThreadRecordingBefore",
    "django.middleware.common.CommonMiddleware",
    "tests.testapp.middleware_http.ThreadRecordingAfter",
]
HOOKS = [
    "before.request",
    "after.request",
    "before.view",
    "after.view",
    "after.template",
    "after.response",
    "before.response",
]


@pytest.fixture
def threads() -> Iterator[list[tuple[str, int]]]:
    views_http.threads.clear()
    with override_settings(MIDDLEWARE=RECORDING_MIDDLEWARE):
        yield views_http.threads
    views_http.threads.clear()


@pytest.mark.parametrize("path", ["/http/async/page/", "/http/page/"])
async def test_asgi_hooks_run_on_the_event_loop_thread(
    threads: list[tuple[str, int]], path: str
) -> None:
    loop_thread = threading.get_ident()
    response = await AsyncClient().get(path)
    assert response.status_code == 200
    hooks = [(where, thread) for where, thread in threads if not where.endswith(":event-loop")]
    assert hooks == [(hook, loop_thread) for hook in HOOKS]
    assert [where for where, _ in threads if where.endswith(":event-loop")] == [
        hook + ":event-loop" for hook in HOOKS
    ]


async def test_asgi_sync_view_hops_but_our_hooks_do_not(threads: list[tuple[str, int]]) -> None:
    loop_thread = threading.get_ident()
    await AsyncClient().get("/http/ok/")
    recorded = dict(threads)
    assert recorded["view"] != loop_thread  # Django runs a sync view in a worker thread
    assert {recorded[hook] for hook in HOOKS if hook != "after.template"} == {loop_thread}


def test_wsgi_hooks_run_in_the_request_thread_without_an_event_loop(
    threads: list[tuple[str, int]],
) -> None:
    response = Client().get("/http/page/")
    assert response.status_code == 200
    assert threads == [(hook, threading.get_ident()) for hook in HOOKS]
