from __future__ import annotations

import os

from django.apps import AppConfig


class SystemProjectConfig(AppConfig):
    name = "tests.system.project"
    label = "systemproject"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        if (
            os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            and os.environ.get("DJP_SYSTEM_NO_GAUGES") != "1"
        ):
            from tests.system.project.liveness import mark_worker_alive

            mark_worker_alive()
        if os.environ.get("DJP_SYSTEM_RECORD_HOPS") == "1":
            from tests.system.project.hops import install_hop_recorder

            install_hop_recorder()
