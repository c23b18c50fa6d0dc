"""The real daemon and CLI: the configured key becomes admin's on the first start and is ignored afterwards;
users made on the command line (key shown once, only its hash stored); the CLI acting as a requester; events
written while no daemon ran are delivered once by the next start, and not again by a restart."""

import json
import sqlite3

import pytest

from annexd.domain.users import key_hash
from annexd.exitcodes import ExitCode
from tests.fakes.receiver import Receiver
from tests.servers.annexd import API_KEY
from tests.util import wait_until


@pytest.fixture
def hook():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def _added(hook):
    return [b["movie"]["title"] for b in hook.bodies("/hook") if b["eventType"] == "MovieAdded"]


def test_keys_users_cli_and_undelivered_events_across_restarts(tmp_path, daemon_factory, hook):
    env = {"ANNEX_NOTIFICATIONS": json.dumps([{"name": "hook", "kind": "webhook", "url": "env:HOOK_URL"}]),
           "HOOK_URL": f"{hook.url}/hook", "ANNEX_NOTIFY_POLL_INTERVAL": "100"}
    daemon = daemon_factory(tmp_path / "state", env=env)
    daemon.cli("migrate")
    # Before any daemon ran: the CLI acts as admin (made by the migration) and as a user it added.
    key = daemon.cli("user", "add", "alice", "--auto-approve", "movie").stdout.strip()
    assert key.startswith("annexd_")
    users = json.loads(daemon.cli("user", "list").stdout)["users"]
    assert {u["name"]: u["role"] for u in users} == {"admin": "admin", "alice": "requester"}
    assert key not in json.dumps(users)
    assert json.loads(daemon.cli("request", "add", "Dune", "--year", "2021", "--json").stdout)["pending_approval"] is False
    waiting = json.loads(daemon.cli("request", "add", "The Show", "--episode", "S01E01", "--user", "alice", "--json").stdout)
    assert waiting["pending_approval"] is True
    refused = daemon.cli("request", "approve", str(waiting["id"]), "--user", "alice", check=False)
    assert refused.returncode == ExitCode.FORBIDDEN
    assert json.loads(daemon.cli("request", "list", "--user", "alice", "--json").stdout)["total"] == 1
    with sqlite3.connect(daemon.state_dir / "annexd.db") as conn:
        hashes = {h for (h,) in conn.execute("SELECT key_hash FROM users")}
    assert key_hash(key) in hashes and key not in hashes

    daemon.start()
    assert daemon.call("GET", "/api/v1/me")[1]["name"] == "admin"  # the configured key is admin's now
    status, me = daemon.call("GET", "/api/v1/me", key=key)
    assert status == 200 and me["name"] == "alice"
    wait_until(lambda: len(hook.bodies("/hook")) >= 2, timeout=30, what="the events written before the start")
    assert _added(hook) == ["Dune"] and [b["eventType"] for b in hook.bodies()] == ["MovieAdded", "SeriesAdd"]
    status, body = daemon.call("POST", f"/api/v1/requests/{waiting['id']}/approve", {})
    assert status == 200 and len(body["approved_items"]) == 1

    daemon.stop()
    daemon.env["ANNEX_API_KEY"] = "another-configured-key-0123"
    daemon.start(migrate=False, wait=False)
    wait_until(lambda: daemon.call("GET", "/health", key=None)[0] == 200, timeout=30, what="restarted daemon")
    assert daemon.call("GET", "/api/v1/me", key="another-configured-key-0123")[0] == 401
    assert daemon.call("GET", "/api/v1/me", key=API_KEY)[1]["name"] == "admin"
    assert any(e.get("event") == "api_key_setting_ignored" for e in daemon.logs())
    # A new event after the restart arrives; the ones delivered before are not sent again.
    assert daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": "Arrival", "year": 2016},
                       key=API_KEY)[0] == 201
    wait_until(lambda: "Arrival" in _added(hook), timeout=30, what="the event made after the restart")
    types = [b["eventType"] for b in hook.bodies()]
    assert types == ["MovieAdded", "SeriesAdd", "RequestApproved", "MovieAdded"]
    assert API_KEY not in (daemon.state_dir / "daemon.log").read_text() and key not in str(hook.bodies())
