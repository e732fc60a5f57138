from __future__ import annotations

import ipaddress
import math
import re
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from pydantic import ValidationError

from django_prometheus.config import (
    DEFAULT_LATENCY_BUCKETS,
    KNOWN_SETTINGS,
    PrometheusConfig,
    get_config,
    load_config,
    reset_config,
)

INF = math.inf


def load(environ: dict[str, str] | None = None, **settings: object) -> PrometheusConfig:
    return load_config(SimpleNamespace(**settings), environ or {})


def test_defaults_without_any_setting() -> None:
    config = load()
    assert config.metric_namespace == ""
    assert config.latency_buckets == DEFAULT_LATENCY_BUCKETS
    assert config.latency_buckets[-1] == INF
    assert config.export_port is None
    assert config.export_port_range is None
    assert config.export_address == ""
    assert config.export_migrations is False
    assert config.excluded_paths == ()
    assert config.path_exclusion is None
    assert config.allowed_networks is None
    assert config.trusted_proxies == ()
    assert config.bearer_token is None
    assert config.basic_auth is None
    assert config.disable_created_series is False
    assert config.multiproc_dir is None
    assert config.multiprocess is False


GOOD = [
    ("PROMETHEUS_METRIC_NAMESPACE", "myproject", "metric_namespace", "myproject"),
    ("PROMETHEUS_METRIC_NAMESPACE", "a:b_c1", "metric_namespace", "a:b_c1"),
    ("PROMETHEUS_METRIC_NAMESPACE", None, "metric_namespace", ""),
    ("PROMETHEUS_LATENCY_BUCKETS", (1, 2.5, INF), "latency_buckets", (1.0, 2.5, INF)),
    ("PROMETHEUS_LATENCY_BUCKETS", [INF], "latency_buckets", (INF,)),
    ("PROMETHEUS_METRICS_EXPORT_PORT", 8001, "export_port", 8001),
    ("PROMETHEUS_METRICS_EXPORT_PORT", 1, "export_port", 1),
    ("PROMETHEUS_METRICS_EXPORT_PORT", 65535, "export_port", 65535),
    ("PROMETHEUS_METRICS_EXPORT_PORT", None, "export_port", None),
    (
        "PROMETHEUS_METRICS_EXPORT_PORT_RANGE",
        range(8001, 8004),
        "export_port_range",
        (8001, 8002, 8003),
    ),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", [9000], "export_port_range", (9000,)),
    ("PROMETHEUS_METRICS_EXPORT_ADDRESS", "127.0.0.1", "export_address", "127.0.0.1"),
    ("PROMETHEUS_METRICS_EXPORT_ADDRESS", None, "export_address", ""),
    ("PROMETHEUS_EXPORT_MIGRATIONS", True, "export_migrations", True),
    ("PROMETHEUS_DISABLE_CREATED_SERIES", True, "disable_created_series", True),
    ("PROMETHEUS_METRICS_BASIC_AUTH", None, "basic_auth", None),
    ("PROMETHEUS_ROUTE_LATENCY", True, "route_latency", True),
    ("PROMETHEUS_BODY_SIZE_BUCKETS", (0, 1024, INF), "body_size_buckets", (0.0, 1024.0, INF)),
    (
        "PROMETHEUS_DISABLED_METRICS",
        ["django_http_responses_total_by_charset", "django_cache_get_fail_total"],
        "disabled_metrics",
        frozenset({"django_http_responses_total_by_charset", "django_cache_get_fail_total"}),
    ),
    (
        "PROMETHEUS_DISABLED_METRICS",
        ("django_http_responses_total_by_charset_total",),  # the exposed form
        "disabled_metrics",
        frozenset({"django_http_responses_total_by_charset"}),
    ),
    ("PROMETHEUS_DISABLED_METRICS", None, "disabled_metrics", frozenset()),
]


@pytest.mark.parametrize(("setting", "value", "field", "expected"), GOOD)
def test_good_values(setting: str, value: object, field: str, expected: object) -> None:
    assert getattr(load_config(SimpleNamespace(**{setting: value}), {}), field) == expected


def test_excluded_paths_compile_and_combine() -> None:
    config = load(PROMETHEUS_EXCLUDED_PATHS=[r"^/health/?$", re.compile(r"^/metrics")])
    assert [pattern.pattern for pattern in config.excluded_paths] == [r"^/health/?$", r"^/metrics"]
    combined = config.path_exclusion
    assert combined is not None
    assert combined.match("/health/")
    assert combined.match("/metrics")
    assert not combined.match("/healthz")


@pytest.mark.parametrize(
    ("patterns", "excluded", "kept"),
    [
        (["(?i)^/health", "^/metrics"], ["/HEALTH", "/health/x", "/metrics"], ["/api"]),
        ([r"^/(?P<kind>a)/", r"^/(?P<kind>b)/"], ["/a/", "/b/"], ["/c/"]),
        ([re.compile("^/health$", re.IGNORECASE)], ["/HEALTH"], ["/health/"]),
        ([re.compile("^/x", re.I), "^/y"], ["/X1", "/y"], ["/Y"]),
    ],
)
def test_excluded_paths_keep_their_own_flags_and_groups(
    patterns: list[object], excluded: list[str], kept: list[str]
) -> None:
    matcher = load(PROMETHEUS_EXCLUDED_PATHS=patterns).path_exclusion
    assert matcher is not None
    assert [path for path in excluded if not matcher.match(path)] == []
    assert [path for path in kept if matcher.match(path)] == []


def test_networks_are_parsed() -> None:
    config = load(
        PROMETHEUS_METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "::1/128", "192.168.1.7"],
        PROMETHEUS_METRICS_TRUSTED_PROXIES=["127.0.0.1/32"],
    )
    assert config.allowed_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("192.168.1.7/32"),
    )
    assert config.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"),)


def test_secrets_are_hidden_in_repr() -> None:
    config = load(
        PROMETHEUS_METRICS_BEARER_TOKEN="s3cret-token-0123456789",
        PROMETHEUS_METRICS_BASIC_AUTH=("scraper", "pa55word"),
    )
    assert config.bearer_token is not None
    assert config.bearer_token.get_secret_value() == "s3cret-token-0123456789"
    assert config.basic_auth is not None
    assert config.basic_auth[0] == "scraper"
    assert config.basic_auth[1].get_secret_value() == "pa55word"
    assert "s3cret" not in repr(config)
    assert "pa55word" not in repr(config)


def test_multiproc_dir_comes_from_the_environment() -> None:
    config = load({"PROMETHEUS_MULTIPROC_DIR": "/tmp/prom"})
    assert config.multiproc_dir == "/tmp/prom"
    assert config.multiprocess is True
    assert load({"PROMETHEUS_MULTIPROC_DIR": ""}).multiproc_dir is None


PORT = "expected an integer port between 1 and 65535"
RANGE = "expected a non-empty iterable of integer ports between 1 and 65535"
BUCKETS = "expected a non-empty sequence of numbers ending in float('inf')"
NAMESPACE = (
    "expected a valid metric-name prefix: letters, digits, '_' or ':', "
    "not starting with a digit (e.g. 'myproject')"
)
PATHS = "expected a list of regular expressions matched against request.path_info"
CLIENTS = "expected a list of client networks in CIDR form such as '10.0.0.0/8' or '::1/128'"
AUTH = "expected a (username, password) pair of non-empty strings"

BAD = [
    ("PROMETHEUS_LATENCY_BUCKETS", (), BUCKETS),
    ("PROMETHEUS_LATENCY_BUCKETS", "0.1,inf", BUCKETS),
    ("PROMETHEUS_LATENCY_BUCKETS", 5, BUCKETS),
    ("PROMETHEUS_LATENCY_BUCKETS", (0.5, 0.1, INF), "expected strictly increasing bucket bounds"),
    ("PROMETHEUS_LATENCY_BUCKETS", (0.1, 0.1, INF), "expected strictly increasing bucket bounds"),
    ("PROMETHEUS_LATENCY_BUCKETS", (0.1, 1.0), "expected the last bucket to be float('inf')"),
    ("PROMETHEUS_LATENCY_BUCKETS", (0.1, "1", INF), "expected numbers only; '1' is not a number"),
    ("PROMETHEUS_LATENCY_BUCKETS", (True, INF), "expected numbers only; True is not a number"),
    ("PROMETHEUS_LATENCY_BUCKETS", (math.nan, INF), "expected numbers only; nan is not a number"),
    ("PROMETHEUS_METRICS_EXPORT_PORT", 0, PORT),
    ("PROMETHEUS_METRICS_EXPORT_PORT", 65536, PORT),
    ("PROMETHEUS_METRICS_EXPORT_PORT", -1, PORT),
    ("PROMETHEUS_METRICS_EXPORT_PORT", "8001", PORT),
    ("PROMETHEUS_METRICS_EXPORT_PORT", 8001.0, PORT),
    ("PROMETHEUS_METRICS_EXPORT_PORT", True, PORT),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", range(0), RANGE),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", [], RANGE),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", 8001, RANGE),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", "8001-8005", RANGE),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", [8001, "8002"], RANGE),
    ("PROMETHEUS_METRICS_EXPORT_PORT_RANGE", range(65535, 65537), RANGE),
    ("PROMETHEUS_METRIC_NAMESPACE", "my-project", NAMESPACE),
    ("PROMETHEUS_METRIC_NAMESPACE", "1project", NAMESPACE),
    ("PROMETHEUS_METRIC_NAMESPACE", "my project", NAMESPACE),
    ("PROMETHEUS_METRIC_NAMESPACE", 42, NAMESPACE),
    (
        "PROMETHEUS_METRICS_EXPORT_ADDRESS",
        127001,
        "expected a string: an IP address or host name, '' for all",
    ),
    ("PROMETHEUS_EXPORT_MIGRATIONS", "False", "expected True or False"),
    ("PROMETHEUS_EXPORT_MIGRATIONS", 1, "expected True or False"),
    ("PROMETHEUS_EXPORT_MIGRATIONS", None, "expected True or False"),
    ("PROMETHEUS_DISABLE_CREATED_SERIES", "yes", "expected True or False"),
    ("PROMETHEUS_EXCLUDED_PATHS", "^/health", PATHS),
    ("PROMETHEUS_EXCLUDED_PATHS", [42], f"{PATHS}; 42 is not a string"),
    (
        "PROMETHEUS_EXCLUDED_PATHS",
        ["(unclosed"],
        f"{PATHS}; '(unclosed' does not compile: missing ), unterminated subpattern at position 0",
    ),
    ("PROMETHEUS_METRICS_ALLOWED_NETWORKS", "10.0.0.0/8", CLIENTS),
    (
        "PROMETHEUS_METRICS_ALLOWED_NETWORKS",
        ["10.0.0.0/33"],
        f"{CLIENTS}; '10.0.0.0/33' is not a network",
    ),
    ("PROMETHEUS_METRICS_ALLOWED_NETWORKS", [10], f"{CLIENTS}; 10 is not a string"),
    (
        "PROMETHEUS_METRICS_TRUSTED_PROXIES",
        ["proxy.local"],
        (
            "expected a list of proxy networks in CIDR form such as '10.0.0.0/8' or '::1/128';"
            " 'proxy.local' is not a network"
        ),
    ),
    ("PROMETHEUS_METRICS_BEARER_TOKEN", "short", "expected a string of at least 16 characters"),
    (
        "PROMETHEUS_METRICS_BEARER_TOKEN",
        1234567890123456789,
        "expected a string of at least 16 characters",
    ),
    ("PROMETHEUS_METRICS_BASIC_AUTH", "user:pass", AUTH),
    ("PROMETHEUS_METRICS_BASIC_AUTH", ("user", ""), AUTH),
    ("PROMETHEUS_METRICS_BASIC_AUTH", ("us:er", "pw"), f"{AUTH}; the username may not contain ':'"),
    ("PROMETHEUS_ROUTE_LATENCY", "yes", "expected True or False"),
    ("PROMETHEUS_BODY_SIZE_BUCKETS", (), BUCKETS),
    ("PROMETHEUS_BODY_SIZE_BUCKETS", (10, 5, INF), "expected strictly increasing bucket bounds"),
    ("PROMETHEUS_BODY_SIZE_BUCKETS", (0, 1024), "expected the last bucket to be float('inf')"),
    (
        "PROMETHEUS_DISABLED_METRICS",
        "django_http_ajax_requests",
        "expected a list of metric family names, such as 'django_http_ajax_requests'",
    ),
    (
        "PROMETHEUS_DISABLED_METRICS",
        ["django_http_responses_by_charset"],
        (
            "'django_http_responses_by_charset' is no metric family of django-prometheus; "
            "did you mean 'django_http_responses_total_by_charset'?"
        ),
    ),
    (
        "PROMETHEUS_DISABLED_METRICS",
        [42],
        (
            "expected a list of metric family names, such as 'django_http_ajax_requests'; "
            "42 is not a string"
        ),
    ),
]


@pytest.mark.parametrize(("setting", "value", "expected"), BAD)
def test_bad_values_name_setting_value_and_expectation(
    setting: str, value: object, expected: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as excinfo:
        load_config(SimpleNamespace(**{setting: value}), {})
    secret = setting in {"PROMETHEUS_METRICS_BEARER_TOKEN", "PROMETHEUS_METRICS_BASIC_AUTH"}
    shown = "<hidden>" if secret else repr(value)
    assert str(excinfo.value) == (
        f"Invalid django-prometheus configuration:\n  {setting} = {shown}: {expected}"
    )


def test_rejected_secrets_never_appear_in_the_message() -> None:
    with pytest.raises(ImproperlyConfigured) as excinfo:
        load(
            PROMETHEUS_METRICS_BEARER_TOKEN="tooshort-s3cret",
            PROMETHEUS_METRICS_BASIC_AUTH=("us:er", "pa55word"),
        )
    message = str(excinfo.value)
    assert "s3cret" not in message
    assert "pa55word" not in message
    assert "PROMETHEUS_METRICS_BEARER_TOKEN = <hidden>: expected a string" in message


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(ImproperlyConfigured) as excinfo:
        load(PROMETHEUS_METRICS_EXPORT_PORT=0, PROMETHEUS_EXPORT_MIGRATIONS="yes")
    assert str(excinfo.value) == (
        "Invalid django-prometheus configuration:\n"
        f"  PROMETHEUS_METRICS_EXPORT_PORT = 0: {PORT}\n"
        "  PROMETHEUS_EXPORT_MIGRATIONS = 'yes': expected True or False"
    )


def test_config_is_frozen() -> None:
    config = load()
    with pytest.raises(ValidationError, match="Instance is frozen"):
        config.export_port = 9000  # type: ignore[misc]


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        PrometheusConfig(not_a_setting=1)  # type: ignore[call-arg]


def test_known_settings_cover_the_spec() -> None:
    assert {
        "PROMETHEUS_METRIC_NAMESPACE",
        "PROMETHEUS_LATENCY_BUCKETS",
        "PROMETHEUS_METRICS_EXPORT_PORT",
        "PROMETHEUS_METRICS_EXPORT_PORT_RANGE",
        "PROMETHEUS_METRICS_EXPORT_ADDRESS",
        "PROMETHEUS_EXPORT_MIGRATIONS",
    } <= KNOWN_SETTINGS


def test_get_config_is_cached_and_reset_by_override_settings() -> None:
    reset_config()
    first = get_config()
    assert get_config() is first
    with override_settings(PROMETHEUS_METRIC_NAMESPACE="inside"):
        assert get_config().metric_namespace == "inside"
    assert get_config().metric_namespace == ""
    assert get_config() is not first


def test_unrelated_setting_change_keeps_the_cache() -> None:
    first = get_config()
    with override_settings(DEBUG=True):
        assert get_config() is first


def test_override_with_bad_value_raises_on_next_read() -> None:
    with (
        override_settings(PROMETHEUS_METRICS_EXPORT_PORT=70000),
        pytest.raises(ImproperlyConfigured, match="PROMETHEUS_METRICS_EXPORT_PORT = 70000"),
    ):
        get_config()
    assert get_config().export_port is None
