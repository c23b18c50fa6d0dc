import json
import posixpath

import pytest
from hypothesis import given, strategies as st

from annexd.encoder.protocol import (
    AGENT_MESSAGES,
    SERVER_MESSAGES,
    Capabilities,
    Heartbeat,
    JobAccepted,
    JobAssign,
    JobCancel,
    JobComplete,
    JobFailed,
    JobProgress,
    JobRefused,
    Message,
    PathMapping,
    Register,
    Registered,
    Shutdown,
    decode,
    map_path,
)
from annexd.errors import InvalidInputError, UnsafePathError

SAMPLES = [
    Register("agent-1", "0.1.0", "host"), Capabilities(("libx264", "libx265"), 2), Heartbeat(("j1", "j2")),
    JobAccepted("j1"), JobRefused("j1", "capacity"), JobProgress("j1", 42.5, 30.0, 1.5, 12.0, 100),
    JobProgress("j1"), JobComplete("j1", "/media/out.mkv", 1234, 2.0, 1.1), JobFailed("j1", "boom", True),
    Registered("agent-1", 30.0), JobAssign("j1", "/in.mkv", "/out.mkv", {"name": "p", "crf": 20}),
    JobCancel("j1"), Shutdown(5.0),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.type)
def test_round_trip(msg):
    text = msg.encode()
    assert json.loads(text)["type"] == msg.type
    assert decode(text) == msg
    assert type(msg).decode(text) == msg


def test_token_is_not_part_of_register():
    assert "token" not in json.loads(Register("a").encode())


def test_direction_restriction():
    with pytest.raises(InvalidInputError):
        decode(JobAssign("j", "/a", "/b", {}).encode(), AGENT_MESSAGES)
    with pytest.raises(InvalidInputError):
        decode(JobComplete("j", "/a", 1, 1.0).encode(), SERVER_MESSAGES)
    with pytest.raises(InvalidInputError):
        JobCancel.decode(JobAccepted("j").encode())


@pytest.mark.parametrize("raw", [
    "not json", "[]", "{}", '{"type": "nope"}', '{"type": 3}',
    '{"type": "job_accepted"}',  # missing field
    '{"type": "job_accepted", "job_id": 5}',
    '{"type": "job_accepted", "job_id": "../../etc"}',
    '{"type": "job_failed", "job_id": "j", "error": "x", "retriable": "yes"}',
    '{"type": "capabilities", "encoders": "libx264", "max_jobs": 1}',
    '{"type": "capabilities", "encoders": ["libx264"], "max_jobs": true}',
    '{"type": "capabilities", "encoders": ["libx264"], "max_jobs": 0}',
    '{"type": "job_progress", "job_id": "j", "percent": 140}',
    '{"type": "job_progress", "job_id": "j", "frame": -1}',
    '{"type": "job_progress", "job_id": "j", "fps": NaN}',
    '{"type": "job_complete", "job_id": "j", "output_path": "/a", "size": 1.5, "duration": 1}',
    '{"type": "job_assign", "job_id": "j", "input_path": "rel", "output_path": "/b", "profile": {}}',
    '{"type": "job_assign", "job_id": "j", "input_path": "/a", "output_path": "/b", "profile": []}',
    '{"type": "register", "agent_id": "a\\u0000b"}',
    '{"type": "job_failed", "job_id": "j", "error": "' + "x" * 9000 + '", "retriable": true}',
    "x" * 300_000,
])
def test_invalid_messages_rejected(raw):
    with pytest.raises(InvalidInputError):
        decode(raw)


def test_extra_keys_ignored_and_ints_accepted_for_floats():
    msg = decode('{"type": "job_progress", "job_id": "j", "percent": 50, "future_field": 1}')
    assert msg == JobProgress("j", 50.0)
    assert isinstance(Message.decode('{"type": "heartbeat"}'), Heartbeat)


def test_path_mapping_translates_both_ways():
    m = PathMapping("/srv/media/", "/mnt/nfs/media")
    assert m.to_agent("/srv/media/movies/a.mkv") == "/mnt/nfs/media/movies/a.mkv"
    assert m.to_daemon("/mnt/nfs/media/movies/a.mkv") == "/srv/media/movies/a.mkv"
    assert m.to_agent("/srv/media/x/../y.mkv") == "/mnt/nfs/media/y.mkv"
    assert m.to_agent("/srv/media") == "/mnt/nfs/media"


@pytest.mark.parametrize("path", [
    "/srv/media/../etc/passwd", "/srv/mediaX/a.mkv", "/etc/passwd", "relative/a.mkv", "", "/srv/media/a\x00b",
    "//srv/../etc", "/srv/media/../../srv/media2/a",
])
def test_path_mapping_refuses_escapes(path):
    m = PathMapping("/srv/media", "/mnt/media")
    with pytest.raises(UnsafePathError):
        m.to_agent(path)


def test_map_path_picks_longest_root_and_refuses_uncovered():
    ms = (PathMapping("/srv", "/a"), PathMapping("/srv/media", "/b"))
    assert map_path(ms, "/srv/media/x", "agent") == "/b/x"
    assert map_path(ms, "/srv/other/x", "agent") == "/a/other/x"
    assert map_path(ms, "/b/x", "daemon") == "/srv/media/x"
    with pytest.raises(UnsafePathError):
        map_path(ms, "/etc/x", "agent")
    assert map_path((), "/x/./y/../z", "agent") == "/x/z"
    with pytest.raises(UnsafePathError):
        map_path((), "x", "agent")


SEGMENTS = st.lists(st.sampled_from(["..", ".", "a", "b", "media", "", "srv"]), max_size=8)


@given(SEGMENTS)
def test_mapped_paths_always_stay_under_the_root(segments):
    m = PathMapping("/srv/media", "/mnt/media")
    path = "/srv/media/" + "/".join(segments)
    try:
        out = m.to_agent(path)
    except UnsafePathError:
        assert not posixpath.normpath(path).startswith("/srv/media")
        return
    assert out == "/mnt/media" or out.startswith("/mnt/media/")
    assert ".." not in out.split("/")
    assert m.to_daemon(out) == posixpath.normpath(path)
