"""A real Prometheus scrapes a real annexd daemon and evaluates the shipped rules (etc/prometheus/annexd-rules.yml)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers.annexd import DaemonProcess
from tests.servers.prometheus import (
    DASHBOARD_FILE,
    RULES_FILE,
    PrometheusServer,
    dashboard_exprs,
    load_rules,
    substitute_grafana_variables,
)


def test_prometheus_scrapes_the_daemon_and_evaluates_the_rules(tmp_path: Path, daemon_factory: Callable[..., DaemonProcess],
                                                                promtool_cli: Callable[..., Any]) -> None:
    # Only the writer and the AwaitingWorker run with the default config, so new requests stay PENDING; the
    # long awaiting poll keeps it that way while Prometheus catches up.
    daemon = daemon_factory(tmp_path / "state", env={"ANNEX_AWAITING_POLL_INTERVAL": "600000"}).start()
    try:
        for title in ("X", "Y"):
            code, body = daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": title})
            assert code == 201, body

        # The exposition format passes promtool's linter (names, units, counters ending in _total, ...).
        with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as resp:
            exposition = resp.read().decode()
        lint = promtool_cli("check", "metrics", stdin=exposition)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr

        target = daemon.url.removeprefix("http://")
        with PrometheusServer(tmp_path / "prometheus", targets=[target], rule_files=[RULES_FILE]) as prom:
            # The first sample is queryable only after ~5-6 s (the discovery manager's first update).
            prom.wait_for(lambda: prom.value('annexd_items{status="PENDING"}') == 2, timeout=20,
                          what="annexd_items{status=PENDING} == 2 in Prometheus")
            [series] = prom.query('annexd_items{status="PENDING"}')
            assert series["metric"]["job"] == "annexd" and series["metric"]["instance"] == target
            assert prom.value('sum(annexd_items{status!="PENDING"})') == 0
            assert prom.targets_health() == [("annexd", "up", "")]
            assert prom.value('up{job="annexd"}') == 1

            # Every shipped rule is loaded and evaluated without error; nothing fires on a healthy daemon.
            shipped = {r.get("record") or r["alert"] for r in load_rules()}

            def rules_ok() -> bool:
                rules = prom.rules()
                return {r["name"] for r in rules} == shipped and all(r["health"] == "ok" for r in rules)

            prom.wait_for(rules_ok, timeout=10, what="every shipped rule loaded with health ok")
            assert {r["state"] for r in prom.rules() if r["type"] == "alerting"} == {"inactive"}

            # A recording rule computed from real scrapes (rate needs two samples).
            prom.wait_for(lambda: prom.query('annexd:http_requests:rate5m{code="200"}'), timeout=10,
                          what="annexd:http_requests:rate5m evaluated")
            assert prom.value("annexd:db_pool_utilisation:ratio") is not None

            # Every dashboard expression runs against the live server (a parse or matching error raises).
            dashboard = json.loads(DASHBOARD_FILE.read_text())
            for _where, expr in dashboard_exprs(dashboard):
                prom.query(substitute_grafana_variables(expr))
            assert prom.value(substitute_grafana_variables(
                'sum(annexd_items{job="$job", instance=~"$instance", status!~"COMPLETED|FAILED|CANCELLED"})')) == 2

        assert prom.proc is not None and prom.proc.returncode == 0, prom.log()[-2000:]
    finally:
        daemon.stop()
