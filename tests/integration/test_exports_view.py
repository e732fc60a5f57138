"""``/metrics`` served by ExportToDjangoView through the Django test client."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator

import django
import pytest
from django.test import AsyncClient, Client
from django.urls import reverse
from prometheus_client import REGISTRY, Counter
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from pytest_django.fixtures import Settings

from django_prometheus.exports import ExportToDjangoView

TOKEN = "scrape-token-0123456789abcdef"
# What Prometheus 2.x/3.x sends when scraping.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROBE = "djp_view_probe_total"


@pytest.fixture(autouse=True)
def export_urls(settings: Settings) -> None:
    settings.ROOT_URLCONF = "tests.testapp.urls_export"
    settings.MIDDLEWARE = []


@pytest.fixture
def probe() -> Iterator[Counter]:
    counter = Counter("djp_view_probe", "A counter the export tests read.", ["kind"])
    counter.labels(kind="a").inc(3)
    counter.labels(kind="b").inc(0.5)
    other = Counter("djp_view_other", "Another counter.")
    other.inc()
    yield counter
    REGISTRY.unregister(counter)
    REGISTRY.unregister(other)


def probe_values(body: str, *, openmetrics: bool = False) -> dict[str, float]:
    families = (
        list(parse_openmetrics(body))  # type: ignore[no-untyped-call]
        if openmetrics
        else list(parse_text(body))
    )
    return {
        sample.labels["kind"]: sample.value
        for family in families
        for sample in family.samples
        if sample.name == PROBE
    }


def test_url_name_and_path() -> None:
    assert reverse("prometheus-django-metrics") == "/metrics"


@pytest.mark.usefixtures("probe")
def test_prometheus_text_by_default(client: Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response["Vary"] == "Accept, Accept-Encoding, Authorization"
    assert response["Cache-Control"] == "no-store, private"
    assert not response.has_header("Content-Encoding")
    body = response.content.decode()
    assert "# EOF" not in body
    assert probe_values(body) == {"a": 3.0, "b": 0.5}


@pytest.mark.usefixtures("probe")
def test_openmetrics_when_the_scraper_asks(client: Client) -> None:
    response = client.get("/metrics", HTTP_ACCEPT=PROMETHEUS_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0;")
    body = response.content.decode()
    assert body.endswith("# EOF\n")
    assert probe_values(body, openmetrics=True) == {"a": 3.0, "b": 0.5}


@pytest.mark.usefixtures("probe")
def test_name_filter_keeps_only_the_named_samples(client: Client) -> None:
    response = client.get("/metrics", {"name[]": [PROBE, "djp_view_other_total"]})
    assert response.status_code == 200
    # Families come in the registry's order; compare the lines, not their order.
    assert sorted(response.content.decode().splitlines()) == sorted(
        [
            "# HELP djp_view_probe_total A counter the export tests read.",
            "# TYPE djp_view_probe_total counter",
            'djp_view_probe_total{kind="a"} 3.0',
            'djp_view_probe_total{kind="b"} 0.5',
            "# HELP djp_view_other_total Another counter.",
            "# TYPE djp_view_other_total counter",
            "djp_view_other_total 1.0",
        ]
    )
    nothing = client.get("/metrics", {"name[]": "djp_no_such_metric"})
    assert nothing.status_code == 200
    assert nothing.content == b""


@pytest.mark.usefixtures("probe")
def test_gzip_when_accepted(client: Client) -> None:
    query = {"name[]": PROBE}
    plain = client.get("/metrics", query)
    zipped = client.get("/metrics", query, HTTP_ACCEPT_ENCODING="deflate, gzip;q=0.8, br")
    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert zipped["Content-Type"] == plain["Content-Type"]
    assert zipped.content != plain.content
    assert gzip.decompress(zipped.content) == plain.content
    whole = client.get("/metrics", HTTP_ACCEPT_ENCODING="gzip")
    assert probe_values(gzip.decompress(whole.content).decode()) == {"a": 3.0, "b": 0.5}


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip;q=0", "x-gzip2, deflate", ""])
@pytest.mark.usefixtures("probe")
def test_no_gzip_unless_accepted(client: Client, accept_encoding: str) -> None:
    response = client.get("/metrics", HTTP_ACCEPT_ENCODING=accept_encoding)
    assert not response.has_header("Content-Encoding")
    assert probe_values(response.content.decode()) == {"a": 3.0, "b": 0.5}


def test_only_get_and_head(client: Client) -> None:
    assert client.head("/metrics").status_code == 200
    response = client.post("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.content == b""


@pytest.mark.usefixtures("probe")
async def test_served_under_asgi(async_client: AsyncClient) -> None:
    response = await async_client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert response.status_code == 200
    assert probe_values(response.content.decode(), openmetrics=True) == {"a": 3.0, "b": 0.5}


@pytest.mark.skipif(django.VERSION < (5, 1), reason="LoginRequiredMiddleware is new in 5.1")
@pytest.mark.usefixtures("probe")
def test_exempt_from_login_required_middleware(client: Client, settings: Settings) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    assert getattr(ExportToDjangoView, "login_required", True) is False
    # The middleware is active: an ordinary view sends the anonymous client to log in.
    assert client.get("/ok/").status_code == 302
    response = client.get("/metrics")
    assert response.status_code == 200
    assert probe_values(response.content.decode()) == {"a": 3.0, "b": 0.5}


# ------------------------------------------------------------------------ access control


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def assert_forbidden(response: object) -> None:
    from django.http import HttpResponse

    assert isinstance(response, HttpResponse)
    assert response.status_code == 403
    assert response.content == b"Forbidden\n"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert not response.has_header("WWW-Authenticate")


@pytest.mark.usefixtures("probe")
def test_allowed_networks(client: Client, settings: Settings) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24", "::1/128"]
    assert_forbidden(client.get("/metrics", REMOTE_ADDR="203.0.113.5"))
    assert_forbidden(client.get("/metrics"))  # the test client's 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.77").status_code == 200
    allowed = client.get("/metrics", REMOTE_ADDR="::1")
    assert probe_values(allowed.content.decode()) == {"a": 3.0, "b": 0.5}


@pytest.mark.usefixtures("probe")
def test_spoofed_forwarded_for_is_not_believed(client: Client, settings: Settings) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    # Without trusted proxies the header is never read.
    assert_forbidden(
        client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.7")
    )
    settings.PROMETHEUS_METRICS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The peer is not a trusted proxy: still not read.
    assert_forbidden(
        client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.7")
    )
    # Through the trusted proxy, a client's forged prefix is left of the real hop.
    assert_forbidden(
        client.get(
            "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="192.0.2.7, 203.0.113.5"
        )
    )


@pytest.mark.usefixtures("probe")
def test_forwarded_for_from_a_trusted_proxy(client: Client, settings: Settings) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    settings.PROMETHEUS_METRICS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    response = client.get(
        "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="192.0.2.7, 10.9.9.9"
    )
    assert response.status_code == 200
    assert probe_values(response.content.decode()) == {"a": 3.0, "b": 0.5}


@pytest.mark.usefixtures("probe")
def test_bearer_token(client: Client, settings: Settings) -> None:
    settings.PROMETHEUS_METRICS_BEARER_TOKEN = TOKEN
    for authorization in (None, f"Bearer {TOKEN}-", "Bearer ", basic("x", TOKEN)):
        extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
        refused = client.get("/metrics", **extra)  # type: ignore[arg-type]
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert refused.content == b"Unauthorized\n"
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert probe_values(response.content.decode()) == {"a": 3.0, "b": 0.5}


@pytest.mark.usefixtures("probe")
def test_basic_auth_and_either_scheme(client: Client, settings: Settings) -> None:
    settings.PROMETHEUS_METRICS_BASIC_AUTH = ("prometheus", "correct horse")
    refused = client.get("/metrics", HTTP_AUTHORIZATION=basic("prometheus", "wrong"))
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Basic realm="metrics", charset="UTF-8"'
    assert PROBE not in refused.content.decode()
    ok = client.get("/metrics", HTTP_AUTHORIZATION=basic("prometheus", "correct horse"))
    assert ok.status_code == 200

    settings.PROMETHEUS_METRICS_BEARER_TOKEN = TOKEN
    refused = client.get("/metrics")
    assert refused["WWW-Authenticate"] == (
        'Bearer realm="metrics", Basic realm="metrics", charset="UTF-8"'
    )
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION=basic("prometheus", "correct horse")).status_code
        == 200
    )


@pytest.mark.usefixtures("probe")
def test_network_refusal_comes_before_credentials(client: Client, settings: Settings) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    settings.PROMETHEUS_METRICS_BEARER_TOKEN = TOKEN
    assert_forbidden(
        client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    )
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 401
    allowed = client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert allowed.status_code == 200
    # A refused POST learns nothing either, not even that only GET is served.
    assert_forbidden(client.post("/metrics", REMOTE_ADDR="203.0.113.5"))


@pytest.mark.parametrize(
    ("method", "remote_addr", "authorization", "status"),
    [
        ("GET", "10.1.2.3", f"Bearer {TOKEN}", 200),
        ("GET", "203.0.113.9", f"Bearer {TOKEN}", 403),
        ("GET", "10.1.2.3", None, 401),
        ("POST", "10.1.2.3", f"Bearer {TOKEN}", 405),
    ],
)
def test_no_answer_may_be_cached(
    client: Client,
    settings: Settings,
    method: str,
    remote_addr: str,
    authorization: str | None,
    status: int,
) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.PROMETHEUS_METRICS_BEARER_TOKEN = TOKEN
    extra = {"REMOTE_ADDR": remote_addr}
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    response = client.generic(method, "/metrics", **extra)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response["Cache-Control"] == "no-store, private"
    assert response["Vary"] == "Accept, Accept-Encoding, Authorization"


def test_the_site_cache_cannot_hand_a_scrape_to_a_refused_client(
    client: Client, settings: Settings
) -> None:
    settings.PROMETHEUS_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.MIDDLEWARE = [
        "django.middleware.cache.UpdateCacheMiddleware",
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    settings.CACHE_MIDDLEWARE_SECONDS = 600
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "site"}
    }
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403
    assert refused.content == b"Forbidden\n"


MALFORMED_ACCEPT = [
    "application/openmetrics-text; version=abc",
    "text/plain; version=a.b",
    "application/openmetrics-text; version=1.x",
    "text/plain; version=",
    ";;;",
    "application/openmetrics-text; version=1..0",
    "*/*; version=\u00e9",
    "application/openmetrics-text; version=abc; " + "x" * 5000,
]
MALFORMED_ACCEPT_ENCODING = ["gzip; q=abc", ";;;", "gzip;" * 2000, "\u00e9"]


@pytest.mark.parametrize("accept", MALFORMED_ACCEPT)
@pytest.mark.usefixtures("probe")
def test_a_malformed_accept_gets_the_text_format(client: Client, accept: str) -> None:
    response = client.get("/metrics", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert probe_values(response.content.decode()) == {"a": 3.0, "b": 0.5}


@pytest.mark.parametrize("accept_encoding", MALFORMED_ACCEPT_ENCODING)
@pytest.mark.usefixtures("probe")
def test_a_malformed_accept_encoding_gets_an_answer(client: Client, accept_encoding: str) -> None:
    response = client.get("/metrics", HTTP_ACCEPT_ENCODING=accept_encoding)
    assert response.status_code == 200
    body = response.content
    if response.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    assert probe_values(body.decode()) == {"a": 3.0, "b": 0.5}
