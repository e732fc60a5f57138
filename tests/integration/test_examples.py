"""The Grafana dashboard and the Prometheus rules in examples/ match what we export.

Every PromQL expression may only name series the real registry exposes (or
recording rules defined in rules.yml); promtool validates the configuration,
the rules and the dashboard's queries, and runs the rule unit tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from scripts.gen_metrics_doc import build_reference_registry, exposed_sample_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "examples" / "prometheus"
DASHBOARD = ROOT / "examples" / "grafana" / "django-prometheus.json"

EXPORTED = exposed_sample_names(build_reference_registry())


# --- the files, parsed into typed models (unknown keys are typos) ----------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Rule(_Strict):
    record: str | None = None
    alert: str | None = None
    expr: str
    for_: str | None = Field(default=None, alias="for")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class RuleGroup(_Strict):
    name: str
    rules: list[Rule]


class RuleFile(_Strict):
    groups: list[RuleGroup]


class InputSeries(_Strict):
    series: str
    values: str


class ExpectedSample(_Strict):
    labels: str
    value: float


class ExprTest(_Strict):
    expr: str
    eval_time: str
    exp_samples: list[ExpectedSample]


class ExpectedAlert(_Strict):
    exp_labels: dict[str, str]
    exp_annotations: dict[str, str]


class AlertTest(_Strict):
    eval_time: str
    alertname: str
    exp_alerts: list[ExpectedAlert]


class RuleTestCase(_Strict):
    name: str
    interval: str
    input_series: list[InputSeries]
    promql_expr_test: list[ExprTest] = []
    alert_rule_test: list[AlertTest] = []


class RuleTestFile(_Strict):
    rule_files: list[str]
    evaluation_interval: str
    tests: list[RuleTestCase]


class _Grafana(BaseModel):
    """Grafana's camelCase keys, read into snake_case fields; other keys are ignored."""


class DataSourceRef(_Grafana):
    type: str
    uid: str


class Target(_Grafana):
    expr: str
    ref_id: str = Field(alias="refId")
    legend_format: str = Field(alias="legendFormat")
    datasource: DataSourceRef


class GridPos(_Grafana):
    x: int
    y: int
    w: int
    h: int


class Panel(_Grafana):
    id: int
    type: str
    title: str
    grid_pos: GridPos = Field(alias="gridPos")
    datasource: DataSourceRef | None = None
    targets: list[Target] = []


class VariableQuery(_Grafana):
    query: str


class Variable(_Grafana):
    name: str
    type: str
    query: VariableQuery | str
    datasource: DataSourceRef | None = None


class Templating(_Grafana):
    list: list[Variable]


class DashboardInput(_Grafana):
    name: str
    type: str
    plugin_id: str = Field(alias="pluginId")


class Dashboard(_Grafana):
    inputs: list[DashboardInput] = Field(alias="__inputs")
    schema_version: int = Field(alias="schemaVersion")
    uid: str
    title: str
    panels: list[Panel]
    templating: Templating


def load_rules() -> RuleFile:
    return RuleFile.model_validate(yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text()))


def load_rule_tests() -> RuleTestFile:
    text = (PROMETHEUS_DIR / "rules_test.yml").read_text()
    return RuleTestFile.model_validate(yaml.safe_load(text))


def load_dashboard() -> Dashboard:
    return Dashboard.model_validate(json.loads(DASHBOARD.read_text()))


def rules() -> Iterator[Rule]:
    for group in load_rules().groups:
        yield from group.rules


def alerts() -> list[Rule]:
    return [rule for rule in rules() if rule.alert is not None]


def recorded_names() -> set[str]:
    return {rule.record for rule in rules() if rule.record is not None}


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every templating query."""
    dashboard = load_dashboard()
    queries = [
        (f"panel {panel.title!r} target {target.ref_id}", target.expr)
        for panel in dashboard.panels
        for target in panel.targets
    ]
    for variable in dashboard.templating.list:
        if variable.type == "query":
            query = variable.query if isinstance(variable.query, str) else variable.query.query
            queries.append((f"variable {variable.name}", query))
    return queries


# --- metric names in PromQL --------------------------------------------------------------

_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_TEMPLATE_VARIABLE = re.compile(r"\$\{?\w+\}?")
# An identifier not glued to a number (`5m`, `1e3`) or to another identifier.
_IDENTIFIER = re.compile(r"(?<![\w:.])[A-Za-z_][A-Za-z0-9_:]*")


def referenced_series(expression: str) -> set[str]:
    """Series names in a PromQL expression: our metrics and recording rules (with ':')."""
    bare = _TEMPLATE_VARIABLE.sub(" ", _STRING.sub('""', expression))
    return {
        token for token in _IDENTIFIER.findall(bare) if token.startswith("django_") or ":" in token
    }


def unknown_series(expression: str, recorded: set[str]) -> set[str]:
    return {
        name
        for name in referenced_series(expression)
        if name not in (recorded if ":" in name else EXPORTED)
    }


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (
            'sum by (le) (rate(django_db_query_duration_seconds_bucket{alias="x"}[5m]))',
            {"django_db_query_duration_seconds_bucket"},
        ),
        (
            'a:b:c / on(job) django_cache_get_total{view="django_admin", q=`django_x`}[$__range]',
            {"a:b:c", "django_cache_get_total"},
        ),
        ("rate(django_x[5m:1m]) offset 1h > 0.5e3", {"django_x"}),
        (
            'label_values(django_model_inserts_total{job=~"$job"}, instance)',
            {"django_model_inserts_total"},
        ),
    ],
)
def test_referenced_series(expression: str, names: set[str]) -> None:
    assert referenced_series(expression) == names


@pytest.mark.parametrize(
    ("expression", "unknown"),
    [
        # The mistakes people make: the doubled _total, a histogram without suffix.
        (
            "rate(django_http_requests_total_by_method[5m])",
            {"django_http_requests_total_by_method"},
        ),
        ("django_db_query_duration_seconds", {"django_db_query_duration_seconds"}),
        ("job:not_recorded:rate5m + django_cache_get_total", {"job:not_recorded:rate5m"}),
        ("rate(django_http_requests_total_by_method_total[5m])", set()),
    ],
)
def test_unknown_series_are_found(expression: str, unknown: set[str]) -> None:
    assert unknown_series(expression, {"job:recorded:rate5m"}) == unknown


def _labels_by_series() -> dict[str, set[str]]:
    labels: dict[str, set[str]] = {}
    for family in build_reference_registry().collect():
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


LABELS_BY_SERIES = _labels_by_series()
TARGET_LABELS = {"job", "instance"}
_SELECTOR = re.compile(r"(?<![\w:.])([A-Za-z_][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def unknown_labels(expression: str) -> set[str]:
    """Label names in matchers and groupings that no series of the expression carries.

    Recording rules (names with ':') may carry anything; they are checked where defined.
    """
    bare = _TEMPLATE_VARIABLE.sub(" ", _STRING.sub('""', expression))
    series = referenced_series(expression)
    if any(":" in name for name in series):
        return set()
    known = TARGET_LABELS.union(*(LABELS_BY_SERIES.get(name, set()) for name in series))
    used = {
        label for _, matchers in _SELECTOR.findall(bare) for label in _MATCHER.findall(matchers)
    }
    used |= {label.strip() for grouping in _GROUPING.findall(bare) for label in grouping.split(",")}
    return used - known - {""}


@pytest.mark.parametrize(
    ("expression", "unknown"),
    [
        (
            'sum by (alias, le) (rate(django_db_query_duration_seconds_bucket{vendor="x"}[5m]))',
            set(),
        ),
        (
            'sum by (view) (rate(django_http_responses_total_by_status_total{code="500"}[5m]))',
            {"view", "code"},
        ),
        ("max by (job, connection) (django_migrations_unapplied_total)", set()),
        ('a:b:c{anything="x"}', set()),
    ],
)
def test_unknown_labels_are_found(expression: str, unknown: set[str]) -> None:
    assert unknown_labels(expression) == unknown


def test_rule_expressions_use_exported_series_only() -> None:
    recorded = recorded_names()
    problems = {}
    for rule in rules():
        name = rule.record or rule.alert
        if not referenced_series(rule.expr):
            problems[name] = "names no series"
        elif unknown := unknown_series(rule.expr, recorded):
            problems[name] = f"unknown series {sorted(unknown)}"
        elif unknown := unknown_labels(rule.expr):
            problems[name] = f"unknown labels {sorted(unknown)}"
    assert problems == {}


def test_rule_tests_feed_exported_series_and_query_recorded_ones() -> None:
    recorded = recorded_names()
    problems: list[str] = []
    for case in load_rule_tests().tests:
        for series in case.input_series:
            name = series.series.split("{", 1)[0]
            if name not in EXPORTED:
                problems.append(f"{case.name}: input {name}")
            elif unknown := unknown_labels(series.series):
                problems.append(f"{case.name}: input {name} labels {sorted(unknown)}")
        for expr_test in case.promql_expr_test:
            problems += [
                f"{case.name}: expr {name}" for name in unknown_series(expr_test.expr, recorded)
            ]
            for sample in expr_test.exp_samples:
                name = sample.labels.split("{", 1)[0]
                if name not in recorded | EXPORTED:
                    problems.append(f"{case.name}: expected sample {name}")
    assert problems == []


def test_dashboard_queries_use_exported_series_only() -> None:
    queries = dashboard_queries()
    assert len(queries) > 20
    problems = {
        where: sorted(unknown_series(query, set())) or "names no series"
        for where, query in queries
        if not referenced_series(query) or unknown_series(query, set())
    }
    assert problems == {}


def test_dashboard_queries_use_labels_of_their_series_only() -> None:
    problems = {
        where: sorted(unknown_labels(query))
        for where, query in dashboard_queries()
        if unknown_labels(query)
    }
    assert problems == {}


def test_dashboard_legends_name_labels_of_their_series() -> None:
    for panel in load_dashboard().panels:
        for target in panel.targets:
            known = TARGET_LABELS.union(
                *(LABELS_BY_SERIES[name] for name in referenced_series(target.expr))
            )
            legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.legend_format))
            assert legend_labels <= known - {"le"}, (panel.title, target.legend_format)


def test_dashboard_covers_every_domain() -> None:
    used = set().union(*(referenced_series(query) for _, query in dashboard_queries()))
    assert {
        "django_http_responses_total_by_status_view_method_total",
        "django_http_responses_total_by_status_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "django_http_exceptions_total_by_type_total",
        "django_db_execute_total",
        "django_db_query_duration_seconds_bucket",
        "django_db_errors_total",
        "django_cache_get_hits_total",
        "django_cache_get_total",
        "django_model_inserts_total",
        "django_model_updates_total",
        "django_model_deletes_total",
        "django_migrations_unapplied_total",
        "django_prometheus_instrumentation_errors_total",
    } <= used


# --- dashboard shape -------------------------------------------------------------------


def test_dashboard_uses_the_datasource_variable_and_job_instance_filters() -> None:
    dashboard = load_dashboard()
    assert dashboard.schema_version >= 39
    assert [(i.name, i.type, i.plugin_id) for i in dashboard.inputs] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    variables = {variable.name: variable for variable in dashboard.templating.list}
    assert list(variables) == ["datasource", "job", "instance"]
    assert (variables["datasource"].type, variables["datasource"].query) == (
        "datasource",
        "prometheus",
    )
    datasource = DataSourceRef(type="prometheus", uid="${datasource}")
    for name in ("job", "instance"):
        assert variables[name].datasource == datasource
    for panel in dashboard.panels:
        if panel.type == "row":
            continue
        assert panel.datasource == datasource, panel.title
        assert panel.targets, panel.title
        for target in panel.targets:
            assert target.datasource == datasource, panel.title
            selectors = re.findall(r"django_\w+(\{[^}]*\})?", target.expr)
            assert selectors, panel.title
            for selector in selectors:
                assert 'job=~"$job"' in selector, (panel.title, target.expr)
                assert 'instance=~"$instance"' in selector, (panel.title, target.expr)


def test_dashboard_rates_use_the_rate_interval() -> None:
    for where, query in dashboard_queries():
        ranges = re.findall(r"\[([^\]]*)\]", query)
        assert all(window == "$__rate_interval" for window in ranges), where


def test_dashboard_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = load_dashboard().panels
    assert len({panel.id for panel in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        position = panel.grid_pos
        assert position.x + position.w <= 24, panel.title
        for x in range(position.x, position.x + position.w):
            for y in range(position.y, position.y + position.h):
                assert (x, y) not in cells, (panel.title, cells.get((x, y)))
                cells[(x, y)] = panel.title


# --- rules shape ---------------------------------------------------------------------


def test_every_alert_has_severity_summary_and_description() -> None:
    names = [rule.alert for rule in alerts()]
    assert names == [
        "DjangoHighServerErrorRatio",
        "DjangoLatencySLOFastBurn",
        "DjangoLatencySLOSlowBurn",
        "DjangoDatabaseErrors",
        "DjangoDatabaseConnectionErrors",
        "DjangoDbPoolExhausted",
        "DjangoCacheHitRatioDrop",
        "DjangoCacheErrorRatioHigh",
        "DjangoUnappliedMigrations",
        "DjangoPrometheusInstrumentationErrors",
    ]
    for rule in alerts():
        assert rule.labels.get("severity") in {"critical", "warning"}, rule.alert
        assert set(rule.annotations) == {"summary", "description"}, rule.alert


def test_unapplied_migrations_alert_waits_fifteen_minutes() -> None:
    (rule,) = [rule for rule in alerts() if rule.alert == "DjangoUnappliedMigrations"]
    assert (rule.for_, rule.expr) == (
        "15m",
        "max by (job, connection) (django_migrations_unapplied_total) > 0",
    )


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in load_rule_tests().tests:
        for alert_test in case.alert_rule_test:
            (firing if alert_test.exp_alerts else silent).add(alert_test.alertname)
    names = {rule.alert for rule in alerts()}
    assert (firing, silent) == (names, names)


def test_recording_rules_are_tested_with_exact_values() -> None:
    recorded = recorded_names()
    tested = {
        expr_test.expr
        for case in load_rule_tests().tests
        for expr_test in case.promql_expr_test
        if expr_test.exp_samples
    }
    assert len(tested & recorded) >= 2


# --- promtool --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is missing: it comes with Debian's `prometheus` package, "
            "which `make system-deps` (scripts/system-deps.sh) installs"
        )
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=PROMETHEUS_DIR, capture_output=True, text=True, check=False, timeout=120
    )


def test_promtool_checks_the_scrape_config(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " SUCCESS: prometheus.yml is valid prometheus config file syntax" in result.stdout
    assert f"  SUCCESS: {sum(1 for _ in rules())} rules found" in result.stdout


def test_scrape_config_targets_the_demo_default() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert (job["job_name"], job["metrics_path"]) == ("django", "/metrics")
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    assert config["rule_files"] == ["rules.yml"]


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"  SUCCESS: {sum(1 for _ in rules())} rules found" in result.stdout


@pytest.mark.django_independent
def test_promtool_runs_the_rule_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_parses_every_dashboard_query(promtool: str, tmp_path: Path) -> None:
    substitutions = {"$__rate_interval": "1m", "$job": "django", "$instance": ".+"}
    records = []
    for index, (_, query) in enumerate(dashboard_queries()):
        if query.startswith("label_values("):
            continue  # Grafana's own function, not PromQL; its series was checked above
        for variable, value in substitutions.items():
            query = query.replace(variable, value)
        assert "$" not in query, query
        records.append({"record": f"dashboard:query_{index}:expr", "expr": query})
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = run(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"  SUCCESS: {len(records)} rules found" in result.stdout


def test_every_dashboard_query_returns_data_from_the_exported_series(
    promtool: str, tmp_path: Path
) -> None:
    """Fed one series per exported sample, each panel query gives at least one result."""
    instance = "127.0.0.1:8000"
    input_series = []
    for family in build_reference_registry().collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {**sample.labels, "job": "django", "instance": instance}
            matchers = ", ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
            input_series.append({"series": f"{sample.name}{{{matchers}}}", "values": "1+1x10"})
    substitutions = {"$__rate_interval": "5m", "$job": "django", "$instance": instance}
    alert_rules = []
    alert_tests = []
    for index, (where, query) in enumerate(dashboard_queries()):
        if query.startswith("label_values("):
            continue
        for variable, value in substitutions.items():
            query = query.replace(variable, value)
        name = f"DashboardQuery{index}"
        alert_rules.append(
            {"alert": name, "expr": f"count({query}) > 0", "labels": {"where": where}}
        )
        alert_tests.append(
            {
                "eval_time": "10m",
                "alertname": name,
                "exp_alerts": [{"exp_labels": {"where": where}}],
            }
        )
    (tmp_path / "dashboard_alerts.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": alert_rules}]})
    )
    (tmp_path / "dashboard_test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["dashboard_alerts.yml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": input_series,
                        "alert_rule_test": alert_tests,
                    }
                ],
            }
        )
    )
    result = run(promtool, "test", "rules", str(tmp_path / "dashboard_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(alert_tests) > 20
