"""Which requests ``PROMETHEUS_EXCLUDED_PATHS`` excludes: its patterns, compiled and combined."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from django_prometheus import state

__all__ = ["PathMatcher", "compile_paths", "path_matcher"]


def compile_paths(value: object) -> tuple[re.Pattern[str], ...]:
    """``PROMETHEUS_EXCLUDED_PATHS`` compiled; ValueError saying what is wrong."""
    expected = "expected a list of regular expressions matched against request.path_info"
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(expected)
    patterns: list[re.Pattern[str]] = []
    for item in value:
        if isinstance(item, re.Pattern) and isinstance(item.pattern, str):
            patterns.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"{expected}; {item!r} is not a string")
        try:
            patterns.append(re.compile(item))
        except re.error as error:
            raise ValueError(f"{expected}; {item!r} does not compile: {error}") from None
    return tuple(patterns)


class PathMatcher(Protocol):
    def match(self, string: str) -> object:
        """Something truthy when ``string`` is excluded."""


class _AnyOf:
    """Several expressions, each with its own flags and groups (they cannot be joined
    into one: global flags or repeated group names would not compile)."""

    __slots__ = ("_patterns",)

    def __init__(self, patterns: tuple[re.Pattern[str], ...]) -> None:
        self._patterns = patterns

    def match(self, string: str) -> re.Match[str] | None:
        for pattern in self._patterns:
            found = pattern.match(string)
            if found is not None:
                return found
        return None


def path_matcher(patterns: tuple[re.Pattern[str], ...]) -> PathMatcher | None:
    try:
        return state.path_matchers[patterns]
    except KeyError:
        pass
    matcher: PathMatcher | None = None
    if len(patterns) == 1:
        matcher = patterns[0]
    elif patterns:
        matcher = _AnyOf(patterns)
    return state.path_matchers.remember(patterns, matcher)
