"""Django's PostgreSQL backend (psycopg 3 or psycopg2), with every connection and query counted.

Cursors are instrumented through the ``cursor_factory`` connection parameter, so
with Django's connection pool (``OPTIONS: {"pool": True}``) the instrumented
class is given to the pool once, when the pool is made, and a checkout does no
work of ours beyond counting. Named (server-side) cursors, which psycopg 3
creates without the factory, are switched to the instrumented class of their
own type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from django.db.backends.postgresql import base
from django.db.backends.postgresql.features import DatabaseFeatures

from django_prometheus.db.common import DatabaseWrapperMixin, is_exporting_cursor_class
from django_prometheus.safety import instrumentation_failed

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["DatabaseFeatures", "DatabaseWrapper", "PostgreSQLWrapperMixin"]


class PostgreSQLWrapperMixin(DatabaseWrapperMixin):
    """Instruments the cursors of a PostgreSQL ``DatabaseWrapper`` (PostGIS too)."""

    def get_connection_params(self) -> dict[str, object]:
        params = super().get_connection_params()
        factory = params.get("cursor_factory")
        if isinstance(factory, type):
            params["cursor_factory"] = self.exporting_cursor_class(factory)
        return params

    # The Django backend this class instruments (postgresql's or PostGIS'), set per class.
    _django_wrapper: ClassVar[type[BaseDatabaseWrapper]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._django_wrapper = cast(
            "type[BaseDatabaseWrapper]",
            next(base for base in cls.__mro__ if not issubclass(base, DatabaseWrapperMixin)),
        )

    def create_cursor(self, name: str | None = None) -> object:
        # Straight to Django's create_cursor, called as the established package calls it
        # (tests patch it there): the factory already instruments unnamed cursors, so
        # DatabaseWrapperMixin's (a second async guard) would only cost time.
        cursor = self._django_wrapper.create_cursor(self, name=name)
        if name is not None:
            cursor_class = type(cursor)
            if not is_exporting_cursor_class(cursor_class):
                # A fresh server-side cursor made without the factory: give it the
                # instrumented subclass of its own class (same layout, nothing else changes).
                exporting = self.exporting_cursor_class(cursor_class)
                if exporting is not cursor_class:
                    try:
                        cursor.__class__ = exporting
                    except TypeError as error:
                        instrumentation_failed("db", error)
        return cursor


class DatabaseWrapper(PostgreSQLWrapperMixin, base.DatabaseWrapper):
    pass
