"""A real Prometheus server for tests, plus promtool and PromQL helpers shared by the ops-file tests.

Not a pytest plugin (it is not listed in conftest.py): tests import what they need. Prometheus listens on a
free 127.0.0.1 port with a throwaway TSDB, scrapes every second and is stopped by PID (SIGTERM, then SIGKILL).
The first scraped sample takes ~5-6 s to become queryable (the discovery manager's first update), so callers
poll with :meth:`PrometheusServer.wait_for` and a deadline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import refuse_under_test_fast
from tests.util import free_port, pid_alive, stop_pid, wait_until

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "etc" / "prometheus" / "annexd-rules.yml"
RULES_TEST_FILE = ROOT / "etc" / "prometheus" / "annexd-rules.test.yml"
EXAMPLE_CONFIG = ROOT / "etc" / "prometheus" / "prometheus.example.yml"
DASHBOARD_FILE = ROOT / "etc" / "grafana" / "annexd-dashboard.json"


def binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; a missing server fails the test (it never skips)."""
    refuse_under_test_fast(name)
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (Debian package 'prometheus'; `make system-deps`)")
    return path


def promtool(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


# --- PromQL helpers --------------------------------------------------------------------------------------

# Words that look like identifiers in PromQL but are not metric names.
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
             "offset", "inf", "nan", "atan2", "start", "end"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?")

# Grafana's built-in variables and this dashboard's own, for turning a panel expression into plain PromQL.
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "instance": ".*",
                     "job": "annexd"}


def substitute_grafana_variables(expr: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in GRAFANA_VARIABLES:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def metric_names_in(expr: str) -> set[str]:
    """Metric (and recording rule) names an expression selects: identifiers that are not functions, keywords,
    label names, durations or strings. Good enough for the expressions we ship; promtool checks the syntax."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", "{}", text)       # label matchers
    text = re.sub(r"\[[^\[\]]*\]", "[]", text)     # range and subquery durations
    text = re.sub(r"\boffset\s+\S+", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = re.sub(r"\$\{?\w+(?::\w+)?\}?", " ", text)  # leftover template variables
    names = set()
    for m in _IDENT.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def registry_sample_names() -> set[str]:
    """Every sample name annexd can export: the families in ``annexd.metrics.REGISTRY`` with their suffixes."""
    from annexd.metrics import REGISTRY

    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count", "_created")}
        elif family.type == "summary":
            names |= {family.name, family.name + "_sum", family.name + "_count", family.name + "_created"}
        else:
            names.add(family.name)
    return names


# Series Prometheus itself adds to every scrape target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                 "scrape_series_added"}


def load_rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    import yaml

    doc = yaml.safe_load(path.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def recorded_names(path: Path = RULES_FILE) -> set[str]:
    return {r["record"] for r in load_rules(path) if "record" in r}


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expr) for every panel target (rows and nested panels included) and every query variable."""
    def panels(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield f"panel {p.get('title')!r} ref {t.get('refId')}", t["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var.get("query")
            q = query.get("query") if isinstance(query, dict) else query
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q or "")
            if m:
                yield f"variable {var['name']}", m.group(1)
            elif q:
                yield f"variable {var['name']}", q


# --- the server ------------------------------------------------------------------------------------------

class PrometheusServer:
    """``with PrometheusServer(workdir, targets=[...], rule_files=[...]) as prom: prom.query(...)``"""

    def __init__(self, workdir: Path, targets: list[str], rule_files: Iterable[Path] = (),
                 job: str = "annexd", interval: str = "1s"):
        self.workdir = workdir
        self.port = free_port()
        self.targets = targets
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.job = job
        self.interval = interval
        self.log_path = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval,
                       "scrape_timeout": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{"job_name": self.job, "static_configs": [{"targets": self.targets}]}],
        }

    def start(self) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
             "--log.level=info"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        try:
            wait_until(self._ready, timeout=15, interval=0.05, what="prometheus /-/ready")
        except AssertionError:
            self.stop()
            raise AssertionError(f"prometheus did not become ready; log:\n{self.log()[-3000:]}") from None
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}; log:\n{self.log()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM by PID, SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None and pid_alive(self.proc.pid):
            stop_pid(self.proc.pid, timeout=timeout)
        return self.proc.wait(5)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- HTTP API ----------------------------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns ``data``, raises AssertionError on an error answer."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise AssertionError(f"prometheus {path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the vector result (``[{"metric": {...}, "value": [ts, "v"]}, ...]``)."""
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]

    def value(self, expr: str) -> float | None:
        """The single value of ``expr``, or None while it has no result."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, f"{expr} returned {len(result)} series: {result}"
        return float(result[0]["value"][1])

    def targets_health(self) -> list[tuple[str, str, str]]:
        """(job, health, lastError) of the active targets."""
        return [(t["labels"].get("job", ""), t["health"], t.get("lastError", ""))
                for t in self.api("targets")["activeTargets"]]

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
        return wait_until(condition, timeout=timeout, interval=0.2, what=what)


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Start Prometheus servers in the test's tmp dir; all are stopped by PID afterwards.

    """
    started: list[PrometheusServer] = []

    def start(targets: list[str], rule_files: Iterable[Path] = (RULES_FILE,), **kw: Any) -> PrometheusServer:
        server = PrometheusServer(tmp_path / f"prometheus{len(started)}", targets, rule_files, **kw)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def promtool_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`promtool`, for tests that run Prometheus's checker."""
    binary("promtool")
    return promtool
