"""The Django application of django-prometheus."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.apps import AppConfig

from django_prometheus.config import MULTIPROC_DIR_ENV

if TYPE_CHECKING:
    from django_prometheus.config import PrometheusConfig

__all__ = ["DjangoPrometheusConfig"]

logger = logging.getLogger("django_prometheus")


class DjangoPrometheusConfig(AppConfig):
    """Validates the configuration at startup and starts what the settings ask for."""

    name = "django_prometheus"
    verbose_name = "Django-Prometheus"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from django_prometheus import checks  # noqa: F401  (registers the system checks)
        from django_prometheus.config import get_config

        # Fail at startup, not at the first request, on a bad PROMETHEUS_* setting.
        config = get_config()
        if config.disable_created_series:
            from prometheus_client import disable_created_metrics

            disable_created_metrics()  # type: ignore[no-untyped-call]
        if config.export_migrations:
            from django_prometheus.migrations import install_migration_export

            # No query here (ASGI servers run ready() in their event loop): the
            # gauges are read by scrapes only.
            install_migration_export()
        from django_prometheus.db.pool import install_pool_export

        # Reads no pool: the pool gauges are read by scrapes only.
        install_pool_export()
        self._start_exports(config)

    def _start_exports(self, config: PrometheusConfig) -> None:
        from django_prometheus import multiprocess
        from django_prometheus.exports import start_exporters_at_startup

        multiprocess.ensure_multiproc_dir(config.multiproc_dir)
        if config.multiprocess and not multiprocess.values_are_multiprocess():
            logger.warning(
                "%s is set but prometheus_client was imported before it was: this "
                "process's metrics are missing from the aggregated scrapes. Set the "
                "variable in the environment the server starts with.",
                MULTIPROC_DIR_ENV,
            )
        start_exporters_at_startup(config)
