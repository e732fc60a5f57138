"""Service checks shared by every test.

A test that needs a real server is marked ``@pytest.mark.service("postgresql")``.
When the server does not answer it is skipped with a loud reason, or, under
REQUIRE_SERVICES=1 (CI), the whole run fails before any test starts.
"""

from __future__ import annotations

import pytest

from tests import services


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "service(name): the test needs a real server (postgresql, mysql, redis, memcached)",
    )
    config.addinivalue_line(
        "markers",
        "django_independent: its outcome cannot depend on the Django line (it builds the "
        "package, runs promtool or the demo's own venv, or only prometheus_client code): "
        "CI runs it in the Django 5.2 leg and deselects it in the others",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [name for name in services.SERVICES if not services.is_available(name)]
    if missing and services.required():
        where = ", ".join(f"{name} at {services.ADDRESSES[name]}" for name in missing)
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but these services do not answer: {where}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers("service"):
            for name in marker.args:
                if name not in services.SERVICES:
                    raise pytest.UsageError(f"{item.nodeid}: unknown service {name!r}")
                if not services.is_available(name):
                    item.add_marker(
                        pytest.mark.skip(
                            reason=f"SERVICE MISSING: {name} does not answer at "
                            f"{services.ADDRESSES[name]} (REQUIRE_SERVICES=1 makes this a failure)"
                        )
                    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    missing = [name for name in services.SERVICES if not services.is_available(name)]
    if missing:
        terminalreporter.write_sep(
            "!", f"services missing, their tests were SKIPPED: {', '.join(missing)}", red=True
        )
