"""Notifications end to end from the outbox: Apprise (its json:// destination) and the webhook, each to a local
endpoint; every event exactly once with the documented payload; a destination that is down delays nothing and
is retried; another daemon, a restarted one, or one taking over a dead daemon's lease sends nothing twice."""

from dataclasses import replace
from datetime import datetime, timedelta

import pykka
import pytest

from actors.context import ActorContext
from actors.messages import Wake
from actors.notify import NotifyWorker
from annexd import metrics
from annexd.clients.notify import destination
from annexd.clients.notify_settings import NotificationDestination, NotifyConfig
from annexd.config import Config
from annexd.domain.notifications import Kind
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.domain.users import Caller, Quota, Role
from store import queries
from tests.fakes.receiver import Receiver
from tests.util import wait_until

NOW = datetime(2026, 5, 1, 12, 0)
RELEASE = {"guid": "g1", "title": "The.Show.S01.1080p.WEB-DL.x264-PACK", "indexer": "prowlarr",
           "size": 6_000_000_000, "info_hash": "cd" * 20}
ALICE = Caller("alice", Role.REQUESTER)
NOTIFY = NotifyConfig(instance_name="home", application_url="http://annexd.lan")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receivers():
    apprise_end, hook_end = Receiver().start(), Receiver().start()
    yield apprise_end, hook_end
    apprise_end.stop()
    hook_end.stop()


def _destinations(apprise_end, hook_end, hook_events=()):
    settings = [NotificationDestination("phone", "apprise", f"json://127.0.0.1:{apprise_end.port}/apprise"),
                NotificationDestination("hook", "webhook", f"{hook_end.url}/hook", events=tuple(hook_events))]
    return {s.name: destination(s, NOTIFY) for s in settings}, {s.name: s.events for s in settings}


def _start(db, clock, dests, routes, instance="daemon-a"):
    ctx = ActorContext(db=db, config=replace(Config(), notify=NOTIFY), clock=clock, instance_id=instance)
    return NotifyWorker.start(ctx, 50, dests, routes)


@pytest.fixture
def workers():
    started: list[pykka.ActorRef] = []
    yield started
    for ref in started:
        if ref.is_alive():
            ref.stop()


def _walk(item_id, steps, fields=None):
    status = S(queries.get_item(item_id).status)
    for event in steps:
        extra = fields.get(event) if fields else None
        assert queries.apply_transition(item_id, status, event, NOW, fields=extra), (status, event)
        status = S(queries.get_item(item_id).status)


def _the_events():
    """A requester's show (two episodes, one pack), approved and delivered; another request declined; a movie
    that fails. Returns the request ids."""
    eps = (EpisodeSpec(1, 1, "Pilot"), EpisodeSpec(1, 2, "Two"))
    show, _ = queries.submit_as(ALICE, RequestSpec(kind="tv", title="The Show", year=2020, tvdb_id=77, episodes=eps),
                                NOW, Quota(), Quota())
    queries.approve(show.request_id, "admin", NOW)
    to_found = {Event.FOUND: {"release": RELEASE}}
    for item in queries.request_items(show.request_id):
        _walk(item.id, [Event.START_SEARCH, Event.FOUND, Event.GRAB, Event.DOWNLOAD_COMPLETE, Event.START_ENCODE,
                        Event.ENCODE_COMPLETE, Event.START_DELIVERY, Event.DELIVERED], to_found)
    other, _ = queries.submit_as(ALICE, RequestSpec(kind="movie", title="Nope", year=1999), NOW, Quota(), Quota())
    queries.decline(other.request_id, "admin", NOW, "not this one")
    movie = queries.create_request(RequestSpec(kind="movie", title="Dune", year=2021, tmdb_id=438631), NOW)
    item = queries.request_items(movie.id)[0]
    _walk(item.id, [Event.START_SEARCH, Event.FOUND, Event.GRAB], to_found)
    assert queries.apply_transition(item.id, S.DOWNLOADING, Event.FAIL, NOW, error="no seeds for 10 min")
    return show.request_id, other.request_id, movie.id


EXPECTED_HOOK = ["SeriesAdd", "RequestApproved", "Grab", "Download", "Download", "Download", "MovieAdded",
                 "RequestDeclined", "MovieAdded", "Grab", "ItemFailed"]


def test_each_event_arrives_once_through_apprise_and_the_webhook(db, receivers, workers):
    apprise_end, hook_end = receivers
    with db.connection_context():
        show_id, declined_id, movie_id = _the_events()
    dests, routes = _destinations(apprise_end, hook_end)
    workers.append(_start(db, Clock(), dests, routes))
    wait_until(lambda: len(hook_end.bodies()) >= len(EXPECTED_HOOK) and len(apprise_end.bodies()) >= 11,
               timeout=30, what="every event at both destinations")
    polls = workers[0].proxy().polls.get(timeout=10)
    wait_until(lambda: workers[0].proxy().polls.get(timeout=10) >= polls + 5, timeout=20, what="more polls")
    hooks = hook_end.bodies("/hook")
    assert [h["eventType"] for h in hooks] == EXPECTED_HOOK  # once each, in order; two grabs of one pack: one
    grab = hooks[2]
    assert [e["episodeNumber"] for e in grab["episodes"]] == [1, 2] and grab["series"]["tvdbId"] == 77
    assert grab["release"]["releaseTitle"] == RELEASE["title"] and grab["release"]["quality"] == "1080p webdl"
    assert grab["downloadId"] == RELEASE["info_hash"].upper() and grab["instanceName"] == "home"
    per_episode, whole = hooks[3:5], hooks[5]
    assert [h["episodes"][0]["episodeNumber"] for h in per_episode] == [1, 2]
    assert all(h["isUpgrade"] is False for h in hooks[3:6]) and len(whole["episodes"]) == 2
    assert "episodeFiles" in whole  # the whole request available (Sonarr's ImportComplete shape)
    assert hooks[7]["reason"] == "not this one" and hooks[7]["request"]["id"] == declined_id
    assert hooks[8]["movie"]["tmdbId"] == 438631 and hooks[8]["addMethod"] == "manual"
    assert hooks[10]["items"][0]["error"] == "no seeds for 10 min" and hooks[10]["request"]["id"] == movie_id
    texts = [(b["title"], b["message"]) for b in apprise_end.bodies("/apprise")]
    assert len(texts) == 11 and ("Request declined", "Nope (1999) was declined by admin: not this one") in texts
    assert any(t == "Available" and "The Show (2020) S01E01, S01E02 is available" in m for t, m in texts)
    assert all(b["version"] == "1.0" and b["type"] == "info" for b in apprise_end.bodies())
    with db.connection_context():
        assert queries.notification_counts() == {"phone": {"sent": 11}, "hook": {"sent": 11}}  # after 5 more polls


def test_filters_take_only_what_a_destination_asks_for(db, receivers, workers):
    apprise_end, hook_end = receivers
    with db.connection_context():
        _the_events()
    dests, routes = _destinations(apprise_end, hook_end, hook_events=("request.*", "item.failed"))
    workers.append(_start(db, Clock(), dests, routes))
    wait_until(lambda: len(apprise_end.bodies()) == 11, timeout=30, what="every event through Apprise")
    wait_until(lambda: len(hook_end.bodies()) == 7, timeout=30, what="the filtered events through the webhook")
    assert [h["eventType"] for h in hook_end.bodies()] == [
        "SeriesAdd", "RequestApproved", "Download", "MovieAdded", "RequestDeclined", "MovieAdded", "ItemFailed"]


def test_a_destination_that_is_down_delays_nothing_and_is_retried(db, receivers, workers):
    apprise_end, hook_end = receivers
    hook_end.down = True
    clock = Clock()
    dests, routes = _destinations(apprise_end, hook_end)
    retries = metrics.NOTIFICATIONS.labels("hook", "retry")._value.get()
    with db.connection_context():  # before the worker starts: its first round sees all three
        for n in range(3):
            queries.record_event(Kind.TEST, {"message": f"test {n}"}, NOW)
    workers.append(_start(db, clock, dests, routes))
    wait_until(lambda: len(apprise_end.bodies()) == 3, timeout=30, what="the working destination served at once")
    wait_until(lambda: metrics.NOTIFICATIONS.labels("hook", "retry")._value.get() > retries, timeout=30,
               what="the hook's failure recorded")
    assert hook_end.bodies() == []

    def counts():
        with db.connection_context():
            return queries.notification_counts()

    wait_until(lambda: counts() == {"hook": {"pending": 3}, "phone": {"sent": 3}}, timeout=30, what="the round done")
    # One failure per round: the other rows of a failing destination wait without costing an attempt each.
    assert metrics.NOTIFICATIONS.labels("hook", "retry")._value.get() - retries == 1
    hook_end.down = False
    clock.now = NOW + timedelta(minutes=5)  # past the backoff
    workers[0].tell(Wake("test"))
    wait_until(lambda: len(hook_end.bodies()) == 3, timeout=30, what="the hook served after its backoff")
    assert sorted(b["message"] for b in hook_end.bodies()) == ["test 0", "test 1", "test 2"]
    assert all(b["eventType"] == "Test" and b["movie"]["title"] == "Test Title" for b in hook_end.bodies())
    assert len(apprise_end.bodies()) == 3


def test_two_daemons_a_restart_and_a_dead_daemons_lease_send_each_once(pg, receivers, workers):
    apprise_end, hook_end = receivers
    clock = Clock()
    dests, routes = _destinations(apprise_end, hook_end)
    with pg.connection_context():
        for n in range(40):
            queries.record_event(Kind.TEST, {"message": f"m{n}"}, NOW)
        queries.fan_out(routes, NOW)
        # A daemon that claimed some rows and died before sending them: they wait for its lease.
        dead = queries.claim_notifications("dead-daemon", NOW, 60.0, 5)
    assert len(dead) == 5
    workers.append(_start(pg, clock, dests, routes, "daemon-a"))
    workers.append(_start(pg, clock, dests, routes, "daemon-b"))
    wait_until(lambda: len(apprise_end.bodies()) + len(hook_end.bodies()) == 75, timeout=60,
               what="every row but the dead daemon's")
    workers[0].stop()  # a restart: a new daemon takes over, nothing is sent again
    workers.append(_start(pg, clock, dests, routes, "daemon-a2"))
    clock.now = NOW + timedelta(minutes=2)  # the dead daemon's lease ran out
    for ref in workers[1:]:
        ref.tell(Wake("test"))
    wait_until(lambda: len(apprise_end.bodies()) + len(hook_end.bodies()) == 80, timeout=60,
               what="the dead daemon's rows")
    polls = workers[-1].proxy().polls.get(timeout=10)
    wait_until(lambda: workers[-1].proxy().polls.get(timeout=10) >= polls + 5, timeout=20, what="more polls")
    for end in (apprise_end, hook_end):
        assert sorted(b["message"] for b in end.bodies()) == sorted(f"m{n}" for n in range(40))
    with pg.connection_context():
        assert queries.notification_counts() == {"phone": {"sent": 40}, "hook": {"sent": 40}}  # after 5 more polls
