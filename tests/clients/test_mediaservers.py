import io
from collections.abc import Iterator

import pytest
import structlog

from annexd import metrics
from annexd.clients.mediaserver_settings import MediaServer, validate_media_server
from annexd.clients.mediaservers import (
    PlexSection,
    find_plex_section,
    parse_plex_sections,
    rescan,
    to_server_path,
)
from annexd.redaction import Secret, redact_secrets
from tests.fakes.mediaservers import FakeEmby, FakePlex
from tests.servers.sshd import free_port

TOKEN = "plexTOKEN-9f8e7d6c5b4a"


@pytest.fixture
def plex() -> Iterator[FakePlex]:
    with FakePlex(token=TOKEN) as server:
        yield server


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Capture structlog output through the same redaction the daemon installs (plus the raw text)."""
    out = io.StringIO()
    saved = structlog.get_config()
    structlog.configure(processors=[redact_secrets([TOKEN]), structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(out), cache_logger_on_first_use=False)
    yield out
    structlog.configure(**saved)


def rescans(server: str, outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "annexd_media_server_rescans_total", {"server": server, "outcome": outcome}) or 0.0


# --- pure ---------------------------------------------------------------------------------------------

def test_map_path() -> None:
    mapping = (("/volume1/media", "/data"), ("/volume1/media/tv", "/tv"))
    assert to_server_path("/volume1/media/movies/A/a.mkv", mapping) == "/data/movies/A/a.mkv"
    assert to_server_path("/volume1/media/tv/S/s.mkv", mapping) == "/tv/S/s.mkv"
    assert to_server_path("/volume1/mediax/a.mkv", mapping) == "/volume1/mediax/a.mkv"


def test_find_plex_section_longest_location() -> None:
    sections = [PlexSection("1", "All", ("/data",)), PlexSection("2", "TV", ("/data/tv",)),
                PlexSection("3", "Other", ("/data/tvx",))]
    assert find_plex_section(sections, "/data/tv/Show/Season 01").key == "2"
    assert find_plex_section(sections, "/data/movies/A").key == "1"
    assert find_plex_section(sections, "/elsewhere") is None


def test_parse_plex_sections_xml_and_json() -> None:
    fake = FakePlex(token="t")
    for body, ctype in ((fake._sections_xml(), "text/xml"), (fake._sections_json(), "application/json")):
        parsed = parse_plex_sections(body, ctype)
        assert [(s.key, s.locations) for s in parsed] == [("1", ("/data/movies",)),
                                                          ("2", ("/data/tv", "/data/tv-kids"))]


def test_validate_media_server() -> None:
    assert validate_media_server(MediaServer("p", "plex", "http://plex:32400", TOKEN)) == []
    problems = "\n".join(validate_media_server(MediaServer("p", "kodi", "ftp://x?X-Plex-Token=1", "")))
    for key in ("media_servers.p.kind", "media_servers.p.url", "media_servers.p.token"):
        assert key in problems
    assert TOKEN not in repr(MediaServer("p", "plex", "http://plex", TOKEN))


# --- plex ---------------------------------------------------------------------------------------------

def test_plex_refreshes_only_the_folder_in_the_right_section(plex: FakePlex, log_output: io.StringIO) -> None:
    server = MediaServer("plex", "plex", plex.url, Secret(TOKEN))
    before = rescans("plex", "ok")
    result = rescan(server, "/data/tv/Show (2020)/Season 01/Show - S01E01.mkv")
    assert result.ok, result.detail
    assert plex.refreshes() == [("2", "/data/tv/Show (2020)/Season 01")]
    assert all(c.headers.get("X-Plex-Token") == TOKEN and "X-Plex-Token" not in c.query for c in plex.calls)
    assert rescans("plex", "ok") == before + 1
    assert TOKEN not in log_output.getvalue() and TOKEN not in result.detail


def test_plex_with_configured_section_and_path_map(plex: FakePlex) -> None:
    server = MediaServer("plex", "plex", plex.url, TOKEN, library_section="1",
                         path_map=(("/srv/nas/movies", "/data/movies"),))
    assert rescan(server, "/srv/nas/movies/A (2001)/A (2001).mkv").ok
    assert [c.path for c in plex.calls] == ["/library/sections/1/refresh"]
    assert plex.refreshes() == [("1", "/data/movies/A (2001)")]


def test_plex_wrong_token_never_raises_nor_leaks(plex: FakePlex, log_output: io.StringIO) -> None:
    wrong = "wrongTOKEN-0123456789"
    server = MediaServer("plex-bad", "plex", plex.url, wrong)
    before = rescans("plex-bad", "auth")
    result = rescan(server, "/data/movies/A/a.mkv")
    assert not result.ok and "token refused" in result.detail
    assert rescans("plex-bad", "auth") == before + 1
    assert wrong not in result.detail and wrong not in repr(server)


def test_plex_path_outside_every_section(plex: FakePlex) -> None:
    result = rescan(MediaServer("plex", "plex", plex.url, TOKEN), "/nowhere/a.mkv")
    assert not result.ok and "no library section" in result.detail
    assert plex.refreshes() == []


def test_plex_server_error_and_down_server() -> None:
    with FakePlex(token=TOKEN) as plex:
        plex.fail_next(500)
        result = rescan(MediaServer("plex", "plex", plex.url, TOKEN), "/data/movies/A/a.mkv")
        assert not result.ok and "HTTP 500" in result.detail
    before = rescans("plex-down", "error")
    down = MediaServer("plex-down", "plex", f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2)
    result = rescan(down, "/data/movies/A/a.mkv")
    assert not result.ok and "ConnectionError" in result.detail and TOKEN not in result.detail
    assert rescans("plex-down", "error") == before + 1


# --- emby / jellyfin ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["emby", "jellyfin"])
def test_emby_jellyfin_media_updated(kind: str, log_output: io.StringIO) -> None:
    with FakeEmby(token=TOKEN, kind=kind) as fake:
        result = rescan(MediaServer(kind, kind, fake.url, TOKEN), "/data/movies/A (2001)/A (2001).mkv")
        assert result.ok, result.detail
        assert fake.updated_paths() == ["/data/movies/A (2001)/A (2001).mkv"]
        call = fake.calls[0]
        assert call.body == {"Updates": [{"Path": "/data/movies/A (2001)/A (2001).mkv", "UpdateType": "Created"}]}
        if kind == "emby":
            assert call.headers["X-Emby-Token"] == TOKEN
        else:
            assert f'Token="{TOKEN}"' in call.headers["Authorization"] and "X-Emby-Token" not in call.headers
    assert TOKEN not in log_output.getvalue()


@pytest.mark.parametrize("kind", ["emby", "jellyfin"])
def test_emby_jellyfin_fall_back_to_library_refresh(kind: str) -> None:
    with FakeEmby(token=TOKEN, kind=kind, media_updated_supported=False) as fake:
        result = rescan(MediaServer(kind, kind, fake.url, TOKEN), "/data/tv/S/s.mkv")
        assert result.ok and "full library refresh" in result.detail
        assert [c.path for c in fake.calls] == ["/Library/Media/Updated", "/Library/Refresh"]


def test_emby_bad_token_is_not_retried_with_refresh(log_output: io.StringIO) -> None:
    with FakeEmby(token=TOKEN) as fake:
        result = rescan(MediaServer("emby", "emby", fake.url, "not-the-token-123"), "/data/a.mkv")
        assert not result.ok and "401" in result.detail
        assert [c.path for c in fake.calls] == ["/Library/Media/Updated"]
    assert "not-the-token-123" not in result.detail


# --- ping (the health check) ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["plex", "emby", "jellyfin"])
def test_ping_needs_an_answer_and_the_token(kind: str) -> None:
    from annexd.clients.mediaservers import ping
    from annexd.errors import ProviderAuthError, ProviderError

    fake = FakePlex(token=TOKEN) if kind == "plex" else FakeEmby(token=TOKEN, kind=kind)
    with fake:
        assert ping(MediaServer(kind, kind, fake.url, TOKEN))
        with pytest.raises(ProviderAuthError):
            ping(MediaServer(kind, kind, fake.url, "wrong-token"))
    with pytest.raises(ProviderError, match="ConnectionError"):
        ping(MediaServer(kind, kind, f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2))
