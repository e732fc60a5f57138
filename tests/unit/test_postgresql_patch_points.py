"""The patch points of the established package's PostgreSQL and PostGIS backends.

Its tests (and tests of projects written against it) mock Django's own
``get_connection_params``, ``get_new_connection`` and ``create_cursor`` and check how
our backend calls them; here the mock *is* the subject. Real connections are tested
in tests/integration/test_db_backends.py and test_db_psycopg2.py.
"""

from __future__ import annotations

import importlib
from typing import Any
from unittest import mock

import pytest

from django_prometheus.db.common import ExportingCursorWrapper, is_exporting_cursor_class

# (our backend module, Django's DatabaseWrapper it instruments, alias to use)
BACKENDS = [
    ("django_prometheus.db.backends.postgresql.base", "django.db.backends.postgresql.base"),
    ("django_prometheus.db.backends.postgis.base", "django.contrib.gis.db.backends.postgis.base"),
]


class PlainCursor:
    def execute(self, *args: object, **kwargs: object) -> None:
        pass

    def executemany(self, query: object, param_list: object) -> None:
        pass


def wrapper_of(ours: str, alias: str) -> Any:
    cls = importlib.import_module(ours).DatabaseWrapper
    wrapper = cls.__new__(cls)
    wrapper.alias = alias
    wrapper.vendor = "postgresql"
    return wrapper


def django_wrapper(django_module: str) -> type:
    return importlib.import_module(django_module).DatabaseWrapper  # type: ignore[no-any-return]


@pytest.mark.parametrize(("ours", "theirs"), BACKENDS)
def test_connection_params_get_one_exporting_layer_over_djangos_factory(
    ours: str, theirs: str
) -> None:
    with mock.patch.object(django_wrapper(theirs), "get_connection_params") as params:
        params.side_effect = lambda: {"cursor_factory": PlainCursor, "dbname": "x"}
        wrapper = wrapper_of(ours, "geo")
        first = wrapper.get_connection_params()
        second = wrapper.get_connection_params()
    factory = first["cursor_factory"]
    assert first["dbname"] == "x"
    assert factory.__mro__[1:] == PlainCursor.__mro__
    assert is_exporting_cursor_class(factory)
    assert second["cursor_factory"] is factory  # built once, never wrapped twice


@pytest.mark.parametrize(("ours", "theirs"), BACKENDS)
def test_connection_params_wrap_with_the_connections_alias_and_vendor(
    ours: str, theirs: str
) -> None:
    with (
        mock.patch.object(django_wrapper(theirs), "get_connection_params") as params,
        mock.patch("django_prometheus.db.common.ExportingCursorWrapper") as wrap,
    ):
        params.return_value = {"cursor_factory": PlainCursor}
        wrap.return_value = PlainCursor
        wrapper_of(ours, "geo_db").get_connection_params()
    wrap.assert_called_once_with(PlainCursor, "geo_db", "postgresql")


@pytest.mark.parametrize(("ours", "theirs"), BACKENDS)
def test_a_new_connection_keeps_its_cursor_factory(ours: str, theirs: str) -> None:
    connection = mock.MagicMock()
    connection.cursor_factory = already = ExportingCursorWrapper(PlainCursor, "geo", "postgresql")
    with mock.patch.object(django_wrapper(theirs), "get_new_connection") as new_connection:
        new_connection.return_value = connection
        assert wrapper_of(ours, "geo").get_new_connection({}) is connection
    assert connection.cursor_factory is already


@pytest.mark.parametrize(("ours", "theirs"), BACKENDS)
def test_create_cursor_calls_djangos_create_cursor_unbound(ours: str, theirs: str) -> None:
    with mock.patch.object(django_wrapper(theirs), "create_cursor") as create_cursor:
        create_cursor.return_value = mock.MagicMock()
        wrapper = wrapper_of(ours, "geo")
        assert wrapper.create_cursor(name=None) is create_cursor.return_value
    create_cursor.assert_called_once_with(wrapper, name=None)
