"""Label values of the HTTP families, read from a request or a response.

Bounded by construction: methods are whitelisted, views and templates come from
the resolver and the response, never from the path.
"""

from __future__ import annotations

from typing import Final

from django.core.signals import setting_changed
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import ResolverMatch

from django_prometheus import state
from django_prometheus.sinks.protocols import Transport

__all__ = [
    "INVALID_METHOD",
    "STANDARD_METHODS",
    "UNMATCHED_ROUTE",
    "UNNAMED_TEMPLATE",
    "UNNAMED_VIEW",
    "charset_label",
    "content_length",
    "method_label",
    "response_body_size",
    "route_label",
    "template_label",
    "transport",
    "view_label",
]

STANDARD_METHODS: Final = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
)
INVALID_METHOD: Final = "<invalid method>"
UNNAMED_VIEW: Final = "<unnamed view>"
UNNAMED_TEMPLATE: Final = "<unnamed template>"
UNMATCHED_ROUTE: Final = "<unmatched>"

METHOD_LABEL: Final[dict[object, str]] = {method: method for method in STANDARD_METHODS}


def method_label(method: str | None) -> str:
    return METHOD_LABEL.get(method, INVALID_METHOD)


def route_label(match: ResolverMatch | None) -> str:
    """The resolver's whole URL pattern (``re_path``: its regex); never the path itself."""
    if match is None:
        return UNMATCHED_ROUTE
    route: object = match.route  # None on a ResolverMatch built by hand
    return route if isinstance(route, str) else UNMATCHED_ROUTE


def _ssl_proxy_header() -> object:
    from django.conf import settings

    return settings.SECURE_PROXY_SSL_HEADER


_plain_schemes = state.plain_schemes


def transport(request: HttpRequest) -> Transport:
    """``request.is_secure()``, without reading ``SECURE_PROXY_SSL_HEADER`` on every request
    (a LazySettings read costs about as much as the rest of this label)."""
    cls = type(request)
    plain = _plain_schemes.get(cls)
    if plain is None:
        plain = _plain_schemes.remember(
            cls,
            not _ssl_proxy_header()
            and cls.is_secure is HttpRequest.is_secure
            and cls.scheme is HttpRequest.scheme,
        )
    if not plain:
        return "https" if request.is_secure() else "http"
    # What HttpRequest.scheme answers when no proxy header is configured.
    scheme = request._get_scheme()  # type: ignore[attr-defined]
    return "https" if scheme == "https" else "http"


def view_label(match: ResolverMatch | None) -> str:
    if match is None:
        return UNNAMED_VIEW
    return match.view_name or UNNAMED_VIEW


def content_length(value: object) -> int:
    """Content-Length as a size: 0 when absent, malformed or negative."""
    if not value:
        return 0
    try:
        length = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return length if length > 0 else 0


def template_label(template_name: object) -> str:
    if isinstance(template_name, str):
        return template_name
    if isinstance(template_name, (list, tuple)):
        # The established package exported str(list): keep the series dashboards know.
        return str(template_name)
    # A Template object: its name, never its repr (which holds a memory address).
    inner = getattr(template_name, "template", template_name)
    name = getattr(inner, "name", None)
    return name if isinstance(name, str) and name else UNNAMED_TEMPLATE


# The charset only depends on the Content-Type header (and DEFAULT_CHARSET, see below).
_charsets = state.charsets


def charset_label(response: HttpResponseBase) -> str:
    explicit = response.__dict__.get("_charset")
    if explicit is not None:
        return str(explicit)
    headers = response.headers
    try:  # ResponseHeaders keeps (name, value) by lower-case name: no call through Mapping
        content_type: str | None = headers._store["content-type"][1]
    except KeyError:
        content_type = None
    except (AttributeError, TypeError, IndexError):  # headers replaced by something else
        content_type = headers.get("Content-Type")
    charset = _charsets.get(content_type)
    if charset is None:
        charset = _charsets.remember(content_type, str(response.charset))
    return charset


def _forget_settings(*, setting: str = "", **_: object) -> None:
    if setting == "DEFAULT_CHARSET":
        _charsets.clear()
    elif setting == "SECURE_PROXY_SSL_HEADER":
        _plain_schemes.clear()


setting_changed.connect(_forget_settings, dispatch_uid="django_prometheus.http_labels.settings")


def response_body_size(response: HttpResponseBase) -> int | None:
    content = getattr(response, "content", None)
    return len(content) if isinstance(content, bytes) else None
