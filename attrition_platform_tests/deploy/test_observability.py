"""The production observability files hold together: the Prometheus rules pass promtool's check
and their own unit tests (which can fail), the Grafana dashboard is well formed, and every
metric either one queries is really exported by a running service — a renamed metric would
otherwise leave an alert that can never fire and a panel that is always empty.

promtool comes from the Debian package `prometheus` (.ci/run installs it as root). Without it
these tests fail, saying so: skipping would let the rules go unchecked in silence.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from attrition_platform.model.bundle import ModelBundle
from attrition_platform_tests.contracts.conftest import small_bundle  # noqa: F401 (session fixture)
from attrition_platform_tests.serving.harness import OPTED_OUT_EVERY, running

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "attrition-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "attrition-rules.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "attrition-serving.json"
# Series Prometheus makes itself, not the service.
PROMETHEUS_OWN = frozenset({"up"})
SEVERITIES = frozenset({"critical", "warning"})
# The latency rule's threshold (the 200 ms p95 SLO) as it appears in the rule.
SLO_THRESHOLD = ") > 0.2\n"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: install the Debian package 'prometheus' "
            "(apt-get install -y prometheus; .ci/run does it when run as root)"
        )
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, check=False)


# -- PromQL: which metric names an expression reads -----------------------------------------------
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
     "offset", "inf", "nan"}
)
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][\w:]*)")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: what is left once strings, label matchers, ranges,
    grouping clauses, offsets, function names and keywords are taken out."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    return {m for m in _IDENTIFIER.findall(text) if m.lower() not in _KEYWORDS}


def rule_list() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def queried_names() -> dict[str, set[str]]:
    """Every metric name the rules and the dashboard (panels and template variables) read."""
    names: dict[str, set[str]] = {}
    for rule in rule_list():
        for name in metric_names(rule["expr"]):
            names.setdefault(name, set()).add(f"rule {rule['alert']}")
    board = dashboard()
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            for name in metric_names(target["expr"]):
                names.setdefault(name, set()).add(f"panel {panel['title']!r}")
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        for name in _LABEL_VALUES.findall(text):
            names.setdefault(name, set()).add(f"variable ${variable['name']}")
    return names


# -- promtool -------------------------------------------------------------------------------------
def test_promtool_accepts_the_alerting_rules() -> None:
    done = run_promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rule_list())} rules found" in done.stdout


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    done = run_promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_threshold_makes_the_unit_tests_fail(tmp_path: Path) -> None:
    """The unit tests pin the thresholds: a p95 line moved from 200 ms to 300 ms is caught."""
    rules = RULES.read_text()
    assert rules.count(SLO_THRESHOLD) == 1, "the latency rule's threshold moved: update this test"
    (tmp_path / RULES.name).write_text(rules.replace(SLO_THRESHOLD, ") > 0.3\n"))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    done = run_promtool("test", "rules", str(tmp_path / RULE_TESTS.name))
    assert done.returncode != 0, "promtool passed rules with a broken threshold"
    assert "AttritionLatencyP95OverSLO" in done.stdout + done.stderr


def test_every_alert_has_a_severity_a_runbook_and_tests_that_fire_and_stay_silent() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [c for t in tests for c in t.get("alert_rule_test", [])]
    for rule in rule_list():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        notes = rule["annotations"]
        assert notes["summary"].strip() and notes["description"].strip(), name
        assert re.fullmatch(r"docs/operations\.md#[a-z0-9-]+", notes["runbook_url"]), name
        mine = [c for c in checks if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in mine), f"{name}: no unit test where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{name}: no unit test where it stays silent"


def test_every_runbook_link_leads_to_a_section_of_the_operations_runbook() -> None:
    """An alert at 3 a.m. whose runbook link lands nowhere is worse than none."""
    headings = re.findall(r"^#{2,4} (.+)$", (ROOT / "docs" / "operations.md").read_text(), flags=re.M)
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in headings}
    missing = {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for rule in rule_list()
        if rule["annotations"]["runbook_url"].split("#", 1)[1] not in anchors
    }
    assert not missing, missing


# -- dashboard ------------------------------------------------------------------------------------
def test_the_dashboard_parses_and_every_panel_has_a_title_and_a_query() -> None:
    board = dashboard()
    assert 39 <= board["schemaVersion"] < 45
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        assert panel.get("title", "").strip(), f"panel {panel.get('id')} has no title"
        targets = panel.get("targets") or []
        assert targets and all(t.get("expr", "").strip() for t in targets), panel["title"]
        for ds in [panel["datasource"], *(t["datasource"] for t in targets)]:
            assert ds["uid"] == "${datasource}", f"{panel['title']}: not on the datasource variable"


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel's query as a recording rule (Grafana's interval variables
    replaced by a duration): a typo in a panel fails here, not on someone's screen."""
    grafana_vars = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
    rules = []
    for i, expr in enumerate(dashboard_exprs(dashboard())):
        for var, value in grafana_vars.items():
            expr = expr.replace(var, value)
        assert "$" not in expr.replace('"$job"', "").replace('"$instance"', ""), expr
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run_promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


# -- the names, against a real service ------------------------------------------------------------
def test_the_promql_name_extractor_skips_functions_labels_keywords_and_numbers() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, path) (rate(lat_bucket{path!="/x", job=~"$job"}[$__rate_interval])))'
        " > 0.2 and on (job) loaded == 1 or ignoring (source) group_left sum(rate(preds_total[5m] offset 1h))"
        ' unless absent(up{job="a"}) * 1e3 - time() + max_over_time(depth[1h:5m])'
    )
    assert metric_names(expr) == {"lat_bucket", "loaded", "preds_total", "up", "depth"}


@pytest.fixture(scope="module")
def exported(small_bundle: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:  # noqa: F811
    """Sample names a running service exports once it has answered a live prediction, a refused
    (opted-out) employee and a 404: the series the rules and panels need all exist by then."""
    home = tmp_path_factory.mktemp("observability") / "home"
    with running(home, publish_model=small_bundle) as stack, stack.client() as client:
        assert client.get("/v1/employees/1/risk").status_code == 200
        assert client.get(f"/v1/employees/{OPTED_OUT_EVERY}/risk").status_code == 403
        assert client.get("/v1/employees/999999/risk").status_code == 404
        text = httpx.get(f"{stack.base}/metrics", timeout=10).text
    yield {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_metric_the_rules_and_the_dashboard_query_is_exported_by_the_service(exported: set[str]) -> None:
    names = queried_names()
    # The extractor must have found the obvious ones, or an empty result would pass.
    assert {
        "attrition_http_request_duration_seconds_bucket", "attrition_drift_detected",
        "attrition_audit_records_dropped_total", "process_resident_memory_bytes", "attrition_model_info",
    } <= set(names)
    missing = {n: sorted(where) for n, where in names.items() if n not in exported and n not in PROMETHEUS_OWN}
    assert not missing, f"queried but not exported by the service: {missing}"
