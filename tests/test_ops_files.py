"""The shipped operations files: systemd units, Prometheus rules/config and the Grafana dashboard.

No server runs here (tests/test_prometheus.py scrapes a real daemon): promtool checks and unit-tests the rules,
systemd-analyze verifies the units, and every metric named anywhere must exist in annexd.metrics.REGISTRY.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers.prometheus import (
    DASHBOARD_FILE,
    EXAMPLE_CONFIG,
    ROOT,
    RULES_FILE,
    RULES_TEST_FILE,
    SCRAPE_SERIES,
    dashboard_exprs,
    load_rules,
    metric_names_in,
    recorded_names,
    registry_sample_names,
    substitute_grafana_variables,
)

UNITS = ROOT / "etc" / "systemd"
INSTALLED_BIN = "/opt/annexd/.venv/bin/annexd"


# --- Prometheus rules and config -------------------------------------------------------------------------

def test_promtool_check_rules(promtool_cli: Callable[..., Any]) -> None:
    result = promtool_cli("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rule_unit_tests(promtool_cli: Callable[..., Any]) -> None:
    result = promtool_cli("test", "rules", str(RULES_TEST_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_cover_the_alerts() -> None:
    tested = set(re.findall(r"alertname:\s*(\w+)", RULES_TEST_FILE.read_text()))
    alerts = {r["alert"] for r in load_rules() if "alert" in r}
    assert len(alerts) >= 9
    assert alerts - tested == set(), alerts - tested
    assert tested <= alerts


def test_promtool_check_example_config(promtool_cli: Callable[..., Any]) -> None:
    result = promtool_cli("check", "config", str(EXAMPLE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == "annexd"  # AnnexdDown selects up{job="annexd"}
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8282"]
    assert (EXAMPLE_CONFIG.parent / config["rule_files"][0]).resolve() == RULES_FILE.resolve()


def test_rules_reference_only_exported_metrics() -> None:
    known = registry_sample_names() | SCRAPE_SERIES | recorded_names()
    unknown = {}
    for rule in load_rules():
        missing = metric_names_in(rule["expr"]) - known
        if missing:
            unknown[rule.get("record") or rule.get("alert")] = sorted(missing)
    assert not unknown, unknown


def test_rules_follow_conventions() -> None:
    rules = load_rules()
    for rule in rules:
        if "record" in rule:
            assert re.fullmatch(r"annexd:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]
        else:
            assert rule["alert"].startswith("Annexd"), rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    names = [r.get("record") or r.get("alert") for r in rules]
    assert len(names) == len(set(names)), "duplicate rule names"
    assert {"annexd:writer_rows_written:rate5m", "annexd:writer_coalesce_ratio:rate5m",
            "annexd:http_requests:rate5m"} <= set(names)


def test_metric_name_extraction() -> None:
    assert metric_names_in(
        'histogram_quantile(0.95, sum by (le, job) (rate(a_bucket{x=~"$instance", le!="b"}[$__rate_interval])))'
    ) == {"a_bucket"}
    assert metric_names_in('a{state="in_use"} >= ignoring (state) group_left b:c:d or vector(0)') == {"a", "b:c:d"}
    assert metric_names_in("count(x == 0) > bool 3 and on (i) y offset 5m") == {"x", "y"}
    assert "annexd_writer_flush_seconds_bucket" in registry_sample_names()
    assert "annexd_actor_restarts_total" in registry_sample_names()


# --- Grafana dashboard -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def test_dashboard_shape(dashboard: dict) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_covers_the_design(dashboard: dict) -> None:
    used = set()
    for _, expr in dashboard_exprs(dashboard):
        used |= metric_names_in(expr)
    for name in ("annexd_items", "annexd_stage_duration_seconds_bucket", "annexd_writer_updates_received_total",
                 "annexd_writer_rows_written_total", "annexd_writer_updates_coalesced_total",
                 "annexd_writer_flush_seconds_bucket", "annexd_writer_backlog", "annexd_db_pool_connections",
                 "annexd_db_pool_max_connections", "annexd_actor_mailbox_depth", "annexd_actor_restarts_total",
                 "annexd_http_requests_total", "annexd_provider_up", "annexd_provider_calls_total",
                 "annexd_irc_connected", "annexd_irc_announces_grabbed_total"):
        assert name in used, name


def test_dashboard_references_only_exported_metrics(dashboard: dict) -> None:
    known = registry_sample_names() | SCRAPE_SERIES | recorded_names()
    unknown = {where: sorted(metric_names_in(expr) - known) for where, expr in dashboard_exprs(dashboard)
               if metric_names_in(expr) - known}
    assert not unknown, unknown


def test_dashboard_exprs_parse_with_promtool(dashboard: dict, tmp_path: Path, promtool_cli: Callable[..., Any]) -> None:
    """promtool has no "parse this expression" command, so each expression becomes a recording rule."""
    exprs = list(dashboard_exprs(dashboard))
    assert len(exprs) >= 20
    rules = [{"record": f"dashboard:expr_{i}:check", "expr": substitute_grafana_variables(expr)}
             for i, (_, expr) in enumerate(exprs)]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool_cli("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# --- systemd units -----------------------------------------------------------------------------------------

def read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values...]}} (keys may repeat, so no plain configparser)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{name}: key outside a section: {line}"
        assert not line.endswith("\\"), f"{name}: keep lines unwrapped: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], key: str, section: str = "Service") -> str:
    values = unit[section].get(key)
    assert values and len(values) == 1, f"{key} must be set once in [{section}], got {values}"
    return values[0]


HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "read-only"}


def test_daemon_unit() -> None:
    unit = read_unit("annexd.service")
    svc = unit["Service"]
    assert one(unit, "Type") == "notify"  # annexd run sends READY=1 through sdnotify
    assert one(unit, "NotifyAccess") == "main"  # the watchdog pings come from the daemon's own process
    assert 10 <= float(one(unit, "WatchdogSec")) <= 300
    assert one(unit, "ExecStart") == f"{INSTALLED_BIN} --config /etc/annexd/annexd.toml run"
    assert one(unit, "ExecStartPre") == f"{INSTALLED_BIN} --config /etc/annexd/annexd.toml migrate"
    assert one(unit, "Restart") == "on-failure"
    # ExitCode.CONFIG, PENDING_MIGRATIONS, HTTP_PORT_UNAVAILABLE: restarting cannot help
    assert set(one(unit, "RestartPreventExitStatus").split()) == {"3", "4", "8"}
    for key, value in HARDENING.items():
        assert one(unit, key) == value, key
    assert one(unit, "StateDirectory") == "annexd"
    assert "/var/lib/annexd" in svc["ReadWritePaths"]
    assert "ANNEX_STATE_DIR=/var/lib/annexd" in svc["Environment"]
    assert svc["EnvironmentFile"] == ["-/etc/annexd/annexd.env"]
    # The stop timeout is a bit above the daemon's shutdown budget.
    from annexd.config import load_config

    budget = load_config(path=None, env={}).supervisor.shutdown_timeout_seconds
    stop = float(one(unit, "TimeoutStopSec"))
    assert budget < stop <= budget + 30, (budget, stop)
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_encoder_unit() -> None:
    unit = read_unit("annexd-encoder.service")
    start = one(unit, "ExecStart")
    assert start.startswith(f"{INSTALLED_BIN} encoder --server ")
    assert " --token-file " in start
    assert one(unit, "KillMode") == "mixed"
    assert one(unit, "Restart") == "on-failure"
    from annexd.encoder import agent as encoder_agent

    prevented = set(one(unit, "RestartPreventExitStatus").split())
    assert prevented == {str(encoder_agent.EXIT_CONFIG), str(encoder_agent.EXIT_AUTH)}
    drain = encoder_agent.build_parser().get_default("drain_seconds")
    assert float(one(unit, "TimeoutStopSec")) > drain  # the agent drains running encodes before exiting
    for key, value in HARDENING.items():
        assert one(unit, key) == value, key


def test_exit_codes_match_the_daemon() -> None:
    from annexd.exitcodes import ExitCode

    assert (ExitCode.CONFIG, ExitCode.PENDING_MIGRATIONS, ExitCode.SUPERVISOR_GAVE_UP) == (3, 4, 6)
    assert ExitCode.HTTP_PORT_UNAVAILABLE == 8


def test_unit_command_lines_parse() -> None:
    """The argument order in ExecStart is accepted by the real command-line parser (--config before the command)."""
    from annexd.cli import build_parser

    unit = read_unit("annexd.service")
    for key in ("ExecStartPre", "ExecStart"):
        argv = one(unit, key).split()[1:]
        args = build_parser().parse_args(argv)
        assert args.config == "/etc/annexd/annexd.toml"
    from annexd.encoder import agent as encoder_agent

    argv = one(read_unit("annexd-encoder.service"), "ExecStart").split()[2:]
    args = encoder_agent.build_parser().parse_args(argv)
    assert args.server and args.token_file


@pytest.mark.parametrize("name", ["annexd.service", "annexd-encoder.service"])
def test_systemd_analyze_verify(name: str, tmp_path: Path, systemd_analyze: str) -> None:
    analyze = systemd_analyze
    text = (UNITS / name).read_text()
    assert INSTALLED_BIN in text
    # verify checks that the binary exists: point it at this checkout's venv for the check.
    local_bin = str(Path(sys.executable).parent / "annexd")
    assert Path(local_bin).exists(), local_bin
    (tmp_path / name).write_text(text.replace(INSTALLED_BIN, local_bin))
    result = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # Unknown keys or misplaced settings are only warnings: treat any output about our unit as a failure.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if name in line]
    assert not complaints, complaints
