"""One validated, frozen view of every ``PROMETHEUS_*`` setting.

Instruments never read ``django.conf.settings`` themselves: they ask
:func:`get_config`, which validates once, caches, and is reset whenever Django
reports a changed setting (so ``override_settings`` works in tests).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any, Final

from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from django_prometheus import state
from django_prometheus.exemplars import exemplar_source
from django_prometheus.families import BODY_SIZE_BUCKETS, family_name
from django_prometheus.paths import PathMatcher, compile_paths, path_matcher

__all__ = [
    "DEFAULT_LATENCY_BUCKETS",
    "KNOWN_SETTINGS",
    "MULTIPROC_DIR_ENV",
    "IPNetwork",
    "PathMatcher",
    "PrometheusConfig",
    "get_config",
    "load_config",
    "reset_config",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    25.0,
    50.0,
    75.0,
    math.inf,
)

MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

# Django setting name -> config field name. The system check uses the keys to
# report unknown PROMETHEUS_* names (typos must not silently do nothing).
SETTING_TO_FIELD: Final[Mapping[str, str]] = {
    "PROMETHEUS_METRIC_NAMESPACE": "metric_namespace",
    "PROMETHEUS_LATENCY_BUCKETS": "latency_buckets",
    "PROMETHEUS_METRICS_EXPORT_PORT": "export_port",
    "PROMETHEUS_METRICS_EXPORT_PORT_RANGE": "export_port_range",
    "PROMETHEUS_METRICS_EXPORT_ADDRESS": "export_address",
    "PROMETHEUS_EXPORT_MIGRATIONS": "export_migrations",
    "PROMETHEUS_EXCLUDED_PATHS": "excluded_paths",
    "PROMETHEUS_METRICS_ALLOWED_NETWORKS": "allowed_networks",
    "PROMETHEUS_METRICS_TRUSTED_PROXIES": "trusted_proxies",
    "PROMETHEUS_METRICS_BEARER_TOKEN": "bearer_token",
    "PROMETHEUS_METRICS_BASIC_AUTH": "basic_auth",
    "PROMETHEUS_DISABLE_CREATED_SERIES": "disable_created_series",
    "PROMETHEUS_ROUTE_LATENCY": "route_latency",
    "PROMETHEUS_BODY_SIZE_BUCKETS": "body_size_buckets",
    "PROMETHEUS_DISABLED_METRICS": "disabled_metrics",
    "PROMETHEUS_EXEMPLARS": "exemplars",
}
FIELD_TO_SOURCE: Final[Mapping[str, str]] = {
    **{field: setting for setting, field in SETTING_TO_FIELD.items()},
    "multiproc_dir": f"{MULTIPROC_DIR_ENV} (environment variable)",
}
KNOWN_SETTINGS: Final[frozenset[str]] = frozenset(SETTING_TO_FIELD)

# A metric name is [a-zA-Z_:][a-zA-Z0-9_:]*; the namespace is joined with "_".
_NAMESPACE_RE: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port(value: object, expected: str) -> int:
    if not _is_int(value) or not 1 <= value <= 65535:  # type: ignore[operator]
        raise ValueError(expected)
    return value  # type: ignore[return-value]


def _networks(value: object, what: str) -> tuple[IPNetwork, ...]:
    expected = f"expected a list of {what} in CIDR form such as '10.0.0.0/8' or '::1/128'"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(expected)
    networks: list[IPNetwork] = []
    for item in value:
        if isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            networks.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"{expected}; {item!r} is not a string")
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{expected}; {item!r} is not a network") from None
    return tuple(networks)


class PrometheusConfig(BaseModel):
    """Every setting django-prometheus reads, validated and immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    metric_namespace: str = ""
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS
    export_port: int | None = None
    export_port_range: tuple[int, ...] | None = None
    export_address: str = ""
    export_migrations: bool = False
    excluded_paths: tuple[re.Pattern[str], ...] = ()
    allowed_networks: tuple[IPNetwork, ...] | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    bearer_token: SecretStr | None = None
    basic_auth: tuple[str, SecretStr] | None = None
    disable_created_series: bool = False
    route_latency: bool = False
    body_size_buckets: tuple[float, ...] = BODY_SIZE_BUCKETS
    disabled_metrics: frozenset[str] = frozenset()
    exemplars: str | None = None
    multiproc_dir: str | None = None

    @field_validator("metric_namespace", mode="before")
    @classmethod
    def _check_namespace(cls, value: object) -> str:
        if value is None or value == "":
            return ""
        if not isinstance(value, str) or not _NAMESPACE_RE.fullmatch(value):
            raise ValueError(
                "expected a valid metric-name prefix: letters, digits, '_' or ':', "
                "not starting with a digit (e.g. 'myproject')"
            )
        return value

    @field_validator("latency_buckets", "body_size_buckets", mode="before")
    @classmethod
    def _check_buckets(cls, value: object) -> tuple[float, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError("expected a non-empty sequence of numbers ending in float('inf')")
        buckets: list[float] = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or math.isnan(item):
                raise ValueError(f"expected numbers only; {item!r} is not a number")
            buckets.append(float(item))
        if not buckets:
            raise ValueError("expected a non-empty sequence of numbers ending in float('inf')")
        if any(later <= earlier for earlier, later in pairwise(buckets)):
            raise ValueError("expected strictly increasing bucket bounds")
        if buckets[-1] != math.inf:
            raise ValueError("expected the last bucket to be float('inf')")
        return tuple(buckets)

    @field_validator("export_port", mode="before")
    @classmethod
    def _check_port(cls, value: object) -> int | None:
        if value is None:
            return None
        return _port(value, "expected an integer port between 1 and 65535")

    @field_validator("export_port_range", mode="before")
    @classmethod
    def _check_port_range(cls, value: object) -> tuple[int, ...] | None:
        if value is None:
            return None
        expected = "expected a non-empty iterable of integer ports between 1 and 65535"
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError(expected)
        ports = tuple(_port(item, expected) for item in value)
        if not ports:
            raise ValueError(expected)
        return ports

    @field_validator("export_address", mode="before")
    @classmethod
    def _check_address(cls, value: object) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError("expected a string: an IP address or host name, '' for all")
        return value

    @field_validator("export_migrations", "disable_created_series", "route_latency", mode="before")
    @classmethod
    def _check_bool(cls, value: object) -> bool:
        if not isinstance(value, bool):
            raise ValueError("expected True or False")
        return value

    @field_validator("excluded_paths", mode="before")
    @classmethod
    def _check_excluded_paths(cls, value: object) -> tuple[re.Pattern[str], ...]:
        return compile_paths(value)

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _check_allowed_networks(cls, value: object) -> tuple[IPNetwork, ...] | None:
        if value is None:
            return None
        return _networks(value, "client networks")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _check_trusted_proxies(cls, value: object) -> tuple[IPNetwork, ...]:
        if value is None:
            return ()
        return _networks(value, "proxy networks")

    @field_validator("bearer_token", mode="before")
    @classmethod
    def _check_token(cls, value: object) -> SecretStr | None:
        if value is None:
            return None
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str) or len(value) < 16:
            raise ValueError("expected a string of at least 16 characters")
        return SecretStr(value)

    @field_validator("basic_auth", mode="before")
    @classmethod
    def _check_basic_auth(cls, value: object) -> tuple[str, SecretStr] | None:
        if value is None:
            return None
        expected = "expected a (username, password) pair of non-empty strings"
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(expected)
        username, password = value
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        if not (isinstance(username, str) and username and ":" not in username):
            raise ValueError(f"{expected}; the username may not contain ':'")
        if not (isinstance(password, str) and password):
            raise ValueError(expected)
        return (username, SecretStr(password))

    @field_validator("disabled_metrics", mode="before")
    @classmethod
    def _check_disabled_metrics(cls, value: object) -> frozenset[str]:
        if value is None:
            return frozenset()
        expected = "expected a list of metric family names, such as 'django_http_ajax_requests'"
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError(expected)
        names = set()
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{expected}; {item!r} is not a string")
            names.add(family_name(item))
        return frozenset(names)

    @field_validator("exemplars", mode="before")
    @classmethod
    def _check_exemplars(cls, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ValueError("expected None, 'opentelemetry' or the dotted path of a callable")
        try:
            exemplar_source(value)
        except ImproperlyConfigured as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("multiproc_dir", mode="before")
    @classmethod
    def _check_multiproc_dir(cls, value: object) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("expected a directory path")
        return value

    @property
    def multiprocess(self) -> bool:
        """Whether prometheus_client writes per-process files to be aggregated."""
        return self.multiproc_dir is not None

    @property
    def path_exclusion(self) -> PathMatcher | None:
        """What the middlewares test ``request.path_info`` against; None excludes nothing."""
        return path_matcher(self.excluded_paths)


# Their rejected values would otherwise end up in logs and tracebacks.
SECRET_FIELDS: Final = frozenset({"bearer_token", "basic_auth"})
HIDDEN_VALUE: Final = "<hidden>"


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        source = FIELD_TO_SOURCE.get(field, field)
        message = item["msg"].removeprefix("Value error, ")
        shown = HIDDEN_VALUE if field in SECRET_FIELDS else repr(item["input"])
        lines.append(f"  {source} = {shown}: {message}")
    return "Invalid django-prometheus configuration:\n" + "\n".join(lines)


def load_config(settings: object, environ: Mapping[str, str] | None = None) -> PrometheusConfig:
    """Validate the ``PROMETHEUS_*`` attributes of ``settings`` (and the environment).

    Raises ImproperlyConfigured naming every bad setting, its value and what is expected.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {
        field: getattr(settings, name)
        for name, field in SETTING_TO_FIELD.items()
        if hasattr(settings, name)
    }
    if MULTIPROC_DIR_ENV in env:
        values["multiproc_dir"] = env[MULTIPROC_DIR_ENV]
    try:
        return PrometheusConfig(**values)
    except ValidationError as error:
        raise ImproperlyConfigured(_format_errors(error)) from None


def _load_project_config() -> PrometheusConfig:
    from django.conf import settings

    return load_config(settings)


def get_config() -> PrometheusConfig:
    """The validated configuration of the running project, cached until a setting changes.

    Without configured Django settings (a script, a unit test of the established
    package), the defaults and ``PROMETHEUS_MULTIPROC_DIR`` of the environment.
    """
    config = state.project_config.peek()
    if config is not None:
        return config
    from django.conf import settings

    if not settings.configured:
        return standalone_config()
    return state.project_config.get(_load_project_config)


def standalone_config() -> PrometheusConfig:
    """The configuration without Django settings: the defaults and the environment."""
    multiproc_dir = os.environ.get(MULTIPROC_DIR_ENV) or None
    config = state.standalone_configs.get(multiproc_dir)
    if config is None:
        environ = {} if multiproc_dir is None else {MULTIPROC_DIR_ENV: multiproc_dir}
        config = state.standalone_configs.remember(multiproc_dir, load_config(object(), environ))
    return config


def reset_config(*, setting: str = "", **_: object) -> None:
    """Drop the cached config; connected to Django's ``setting_changed`` signal."""
    if not setting or setting.startswith("PROMETHEUS_"):
        state.project_config.clear()


def _connect_setting_changed() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(reset_config, dispatch_uid="django_prometheus.config.reset")


_connect_setting_changed()
