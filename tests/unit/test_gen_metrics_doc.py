"""The reference registry holds the whole contract; docs/metrics.md is made from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from django_prometheus.families import DOMAINS
from scripts.gen_metrics_doc import (
    METRIC_NOTES,
    MetricReferenceError,
    build_reference_registry,
    exposed_sample_names,
    render_metrics_doc,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"

# The catalogue of spec/metrics.md: family name as prometheus_client reports it -> type, labels.
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "django_http_requests_before_middlewares": ("counter", ()),
    "django_http_responses_before_middlewares": ("counter", ()),
    "django_http_requests_latency_including_middlewares_seconds": ("histogram", ()),
    "django_http_requests_unknown_latency_including_middlewares": ("counter", ()),
    "django_http_requests_total_by_method": ("counter", ("method",)),
    "django_http_requests_total_by_transport": ("counter", ("transport",)),
    "django_http_ajax_requests": ("counter", ()),
    "django_http_requests_body_total_bytes": ("histogram", ()),
    "django_http_requests_total_by_view_transport_method": (
        "counter",
        ("view", "transport", "method"),
    ),
    "django_http_responses_total_by_templatename": ("counter", ("templatename",)),
    "django_http_responses_total_by_status": ("counter", ("status",)),
    "django_http_responses_total_by_status_view_method": ("counter", ("status", "view", "method")),
    "django_http_responses_body_total_bytes": ("histogram", ()),
    "django_http_responses_total_by_charset": ("counter", ("charset",)),
    "django_http_responses_streaming": ("counter", ()),
    "django_http_requests_latency_seconds_by_view_method": ("histogram", ("view", "method")),
    "django_http_requests_unknown_latency": ("counter", ()),
    "django_http_exceptions_total_by_type": ("counter", ("type",)),
    "django_http_exceptions_total_by_view": ("counter", ("view",)),
    "django_db_new_connections": ("counter", ("alias", "vendor")),
    "django_db_new_connection_errors": ("counter", ("alias", "vendor")),
    "django_db_execute": ("counter", ("alias", "vendor")),
    "django_db_execute_many": ("counter", ("alias", "vendor")),
    "django_db_errors": ("counter", ("alias", "vendor", "type")),
    "django_db_query_duration_seconds": ("histogram", ("alias", "vendor")),
    "django_cache_get": ("counter", ("backend",)),
    "django_cache_get_hits": ("counter", ("backend",)),
    "django_cache_get_misses": ("counter", ("backend",)),
    "django_cache_get_fail": ("counter", ("backend",)),
    "django_model_inserts": ("counter", ("model",)),
    "django_model_updates": ("counter", ("model",)),
    "django_model_deletes": ("counter", ("model",)),
    "django_migrations_applied_total": ("gauge", ("connection",)),
    "django_migrations_unapplied_total": ("gauge", ("connection",)),
    "django_prometheus_instrumentation_errors": ("counter", ("component",)),
}

SUFFIXES = {
    "counter": {"_total", "_created"},
    "histogram": {"_bucket", "_sum", "_count", "_created"},
    "gauge": {""},
}


def test_reference_registry_holds_every_contract_family_with_its_type_and_labels() -> None:
    families = {family.name: family for family in build_reference_registry().collect()}
    assert set(CONTRACT) <= set(families), "new metrics may be added; none may go"
    for name, (kind, labels) in CONTRACT.items():
        family = families[name]
        assert family.type == kind, name
        for sample in family.samples:
            assert tuple(label for label in sample.labels if label != "le") == labels, name


def test_reference_registry_shows_every_sample_suffix_of_every_family() -> None:
    for family in build_reference_registry().collect():
        suffixes = {sample.name.removeprefix(family.name) for sample in family.samples}
        assert suffixes == SUFFIXES[family.type], family.name


def test_exposed_sample_names_use_the_exposition_names() -> None:
    names = exposed_sample_names(build_reference_registry())
    assert "django_http_requests_total_by_method_total" in names
    assert "django_http_requests_total_by_method" not in names
    assert "django_db_query_duration_seconds_bucket" in names
    assert "django_migrations_unapplied_total" in names
    assert "django_cache_get_total" in names


def test_every_note_describes_an_exported_metric() -> None:
    families = build_reference_registry().collect()
    primary = {
        f"{family.name}_total" if family.type == "counter" else family.name for family in families
    }
    assert set(METRIC_NOTES) == primary
    assert len(primary) == sum(len(families) for families in DOMAINS.values())


def test_committed_doc_matches_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == render_metrics_doc(), (
        "docs/metrics.md is out of date: run python scripts/gen_metrics_doc.py"
    )


def test_doc_lists_each_metric_once_with_type_and_labels() -> None:
    doc = render_metrics_doc()
    assert (
        "| `django_db_errors_total` | counter | `alias`, `vendor`, `type` | a query raised |" in doc
    )
    assert (
        "| `django_http_requests_latency_seconds_by_view_method_bucket`, "
        "`django_http_requests_latency_seconds_by_view_method_sum`, "
        "`django_http_requests_latency_seconds_by_view_method_count` "
        "| histogram (latency buckets) | `view`, `method` |"
    ) in doc
    assert "| `django_migrations_unapplied_total` | gauge | `connection` |" in doc
    rows = [line for line in doc.splitlines() if line.startswith("| `django_")]
    assert len(rows) == len(list(build_reference_registry().collect()))


def test_script_check_mode_agrees() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_metrics_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "docs/metrics.md is up to date\n")


def test_a_family_without_notes_is_reported() -> None:
    registry = build_reference_registry()
    Counter("django_unexplained", "New and undocumented.", registry=registry).inc()
    with pytest.raises(
        MetricReferenceError,
        match=r"^django_unexplained_total is not declared in django_prometheus.families$",
    ):
        render_metrics_doc(registry)


def test_a_family_without_series_is_reported() -> None:
    registry = build_reference_registry()
    Counter("django_unused", "Labelled, never used.", ("thing",), registry=registry)
    with pytest.raises(
        MetricReferenceError,
        match=r"^django_unused_total has no series: report an event for it in "
        r"build_reference_registry\(\); django_unused_total is not declared in "
        r"django_prometheus.families$",
    ):
        render_metrics_doc(registry)


def test_a_declared_family_that_is_not_exported_is_reported() -> None:
    with pytest.raises(
        MetricReferenceError,
        match=r"^django_prometheus.families declares django_cache_get_fail_total, "
        r"which is not exported$",
    ):
        render_metrics_doc(_registry_without("django_cache_get_fail"))


def test_a_family_exported_unlike_its_declaration_is_reported() -> None:
    registry = _registry_without("django_cache_get_fail")
    Counter("django_cache_get_fail", "Other help.", ("backend",), registry=registry).labels("x")
    with pytest.raises(
        MetricReferenceError,
        match=r"^django_cache_get_fail_total is exported unlike its declaration in "
        r"django_prometheus.families$",
    ):
        render_metrics_doc(registry)


def test_notes_must_match_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METRIC_NOTES, "django_gone_total", METRIC_NOTES["django_db_errors_total"])
    monkeypatch.delitem(METRIC_NOTES, "django_db_errors_total")
    with pytest.raises(
        MetricReferenceError,
        match=r"^django_db_errors_total has no entry in METRIC_NOTES; "
        r"METRIC_NOTES describes django_gone_total, which is not declared$",
    ):
        render_metrics_doc()


def _registry_without(family_name: str) -> CollectorRegistry:
    registry = build_reference_registry()
    for collector in list(registry._collector_to_names):
        if family_name in {metric.name for metric in collector.collect()}:
            registry.unregister(collector)
    return registry
