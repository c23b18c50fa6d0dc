"""Long-lived holds (an IRC network one daemon stays connected to) and the light read of wanted titles, on
SQLite and on a real PostgreSQL (the `db` fixture is parametrised over both)."""

from datetime import datetime, timedelta

from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import queries

NOW = datetime(2026, 3, 1, 12, 0, 0)
LEASE = 60.0
TASK = "irc:btn"


def beat(*instances: str, at: datetime = NOW) -> None:
    for instance in instances:
        queries.heartbeat(instance, "host", 1, at)


def hold(instance: str, now: datetime = NOW) -> bool:
    return queries.hold_task(TASK, instance, now, LEASE, live_since=now - timedelta(seconds=90))


def holder() -> str | None:
    return next(s.claimed_by for s in queries.task_states(TASK))


def test_one_daemon_holds_and_renews(db):
    with db.connection_context():
        beat("a", "b")
        assert hold("a") and not hold("b")
        assert hold("a", NOW + timedelta(seconds=30)) and not hold("b", NOW + timedelta(seconds=30))
        assert holder() == "a"


def test_a_hold_passes_on_when_its_lease_runs_out(db):
    with db.connection_context():
        beat("a", "b")
        assert hold("a")
        later = NOW + timedelta(seconds=LEASE + 1)
        beat("a", "b", at=later)  # a still beats, but has not renewed (its database calls fail, say)
        assert hold("b", later) and holder() == "b" and not hold("a", later)


def test_a_hold_passes_on_at_once_when_its_daemon_is_gone_or_silent(db):
    with db.connection_context():
        beat("a", "b", "c")
        assert hold("a")
        queries.forget_instances(["a"])  # found dead on its host
        assert hold("b", NOW + timedelta(seconds=1)) and holder() == "b"
        silent = NOW + timedelta(seconds=100)  # b stopped beating 100 s ago (over the 90 s allowed)
        beat("c", at=silent)
        assert hold("c", silent) and holder() == "c"


def test_a_released_hold_is_free_at_once_and_release_is_the_holders_only(db):
    with db.connection_context():
        beat("a", "b")
        assert hold("a")
        assert not queries.release_task(TASK, "b") and holder() == "a"
        assert queries.release_task(TASK, "a") and holder() is None
        assert hold("b")


def test_a_daemon_is_live_only_while_its_heartbeat_is_recent(db):
    with db.connection_context():
        assert not queries.instance_live("a", NOW - timedelta(seconds=90))
        beat("a")
        assert queries.instance_live("a", NOW - timedelta(seconds=90))
        assert not queries.instance_live("a", NOW + timedelta(seconds=1))


def test_wanted_titles_are_read_light_and_items_only_for_the_candidates(db):
    def show(title: str) -> int:
        spec = RequestSpec(kind="tv", title=title, episodes=(EpisodeSpec(1, 1, "", NOW.date() + timedelta(days=1)),))
        return int(queries.create_request(spec, NOW).id)

    with db.connection_context():
        wanted, other = show("Wanted Show"), show("Other Show")
        movie = int(queries.create_request(RequestSpec(kind="movie", title="Pending Movie"), NOW).id)
        titles = dict(queries.wanted_request_titles([S.AWAITING]))
        assert titles == {wanted: "Wanted Show", other: "Other Show"} and movie not in titles
        rows = queries.wanted_items([S.AWAITING], [wanted])
        assert [(req.id, [i.episode for i in items]) for req, items in rows] == [(wanted, [1])]
        assert len(queries.wanted_items([S.AWAITING])) == 2
