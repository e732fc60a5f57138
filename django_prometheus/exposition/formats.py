"""The output rules of prometheus_client's encoders that the fast renderer follows.

Written from reading prometheus_client 0.20.0 to 0.26.0 (``exposition.generate_latest``,
``openmetrics.exposition.generate_latest``, ``utils.floatToGoString``). The rules are
only followed where they were checked byte for byte against the real encoder: the
versions in :data:`VERIFIED_VERSIONS`, the two escaping schemes under which a legacy
name is written unchanged, and OpenMetrics 1.0.0. Anything else is left to
prometheus_client.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Final

from prometheus_client import exposition as text_exposition
from prometheus_client.openmetrics import exposition as om_exposition
from prometheus_client.registry import Collector

__all__ = [
    "INSTALLED_RELEASE",
    "INSTALLED_VERSION",
    "VERIFIED_VERSIONS",
    "Format",
    "doc_om",
    "doc_text",
    "escape_value",
    "fast_format",
    "go_float",
    "is_plain_name",
]

# The releases whose output the differential tests compared byte for byte.
VERIFIED_VERSIONS: Final = frozenset(
    {
        "0.20.0",
        "0.21.0",
        "0.21.1",
        "0.22.0",
        "0.22.1",
        "0.23.0",
        "0.23.1",
        "0.24.0",
        "0.24.1",
        "0.25.0",
        "0.26.0",
    }
)
INSTALLED_VERSION: Final = version("prometheus-client")

# Escaping schemes that leave a name of [a-zA-Z_][a-zA-Z0-9_]* as it is ("dots" and
# "values" rewrite every underscore; None: a release from before escaping).
_PLAIN_ESCAPINGS: Final = frozenset({None, "underscores", "allow-utf-8"})
# No colon: OpenMetrics with "underscores" rewrites colons in sample names only.
_PLAIN_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


INSTALLED_RELEASE: Final = _release(INSTALLED_VERSION)
# 0.26.0 pads the exponent to two digits (1e+10); earlier releases write e+0 and the digits.
_TWO_DIGIT_EXPONENT: Final = INSTALLED_RELEASE >= (0, 26)
_INF: Final = float("inf")


@dataclass(frozen=True, slots=True)
class Format:
    """What the fast renderer writes: the text format 0.0.4 or OpenMetrics 1.0.0."""

    openmetrics: bool


TEXT: Final = Format(openmetrics=False)
OPENMETRICS: Final = Format(openmetrics=True)


def fast_format(
    encoder: Callable[[Collector], bytes], installed: str = INSTALLED_VERSION
) -> Format | None:
    """The format ``encoder`` (from ``choose_encoder``) writes, if the fast renderer can
    write the same bytes; ``None`` leaves the scrape to prometheus_client."""
    if installed not in VERIFIED_VERSIONS:
        return None
    function: object = encoder
    keywords: dict[str, object] = {}
    if isinstance(encoder, functools.partial):
        if encoder.args:
            return None
        function, keywords = encoder.func, dict(encoder.keywords)
    if keywords.pop("escaping", None) not in _PLAIN_ESCAPINGS:
        return None
    om_version = keywords.pop("version", None)
    if keywords:
        return None
    if function is text_exposition.generate_latest and om_version is None:
        return TEXT
    if function is om_exposition.generate_latest and om_version in (None, "1.0.0"):
        return OPENMETRICS
    return None


def is_plain_name(name: str) -> bool:
    """A name every supported escaping writes unchanged, in every position."""
    return _PLAIN_NAME.match(name) is not None


def go_float(value: float) -> str:
    """``floatToGoString`` of the installed release."""
    number = float(value)
    text = repr(number)
    if text[-1] > "9":  # inf, -inf, nan
        if number == _INF:
            return "+Inf"
        if number == -_INF:
            return "-Inf"
        return "NaN"
    if number > 0 and len(text) > 8:
        dot = text.find(".")
        if dot > 6:
            mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
            if _TWO_DIGIT_EXPONENT:
                return f"{mantissa}e+{dot - 1:02d}"
            return f"{mantissa}e+0{dot - 1}"
    return text


def escape_value(value: str) -> str:
    """A label value (both formats, every release and escaping scheme)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def doc_text(documentation: str) -> str:
    """HELP text in the text format: quotes stay as they are."""
    return documentation.replace("\\", "\\\\").replace("\n", "\\n")


def doc_om(documentation: str) -> str:
    """HELP text in OpenMetrics: quotes are escaped too."""
    return escape_value(documentation)
