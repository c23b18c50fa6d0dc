import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path, PurePosixPath

import pytest

from annexd import metrics
from annexd.clients.delivery import (
    DeliveryResult,
    TargetLimiter,
    cleanup_stale_temp_files,
    decide_existing,
    deliver,
    make_transport,
    remove_delivered,
    sweep_temp_files,
)
from annexd.clients.delivery_local import LocalTransport
from annexd.clients.delivery_settings import Target, validate_target
from annexd.clients.delivery_ssh import (
    RsyncTransport,
    close_shared_connection,
    control_path,
    parse_rsync_progress,
    sftp_quote,
    split_progress_stream,
)
from annexd.clients.delivery_transport import DestinationConflictError
from annexd.domain.naming import render_movie_path
from annexd.errors import ProviderError, UnsafePathError
from tests.servers.sshd import SshdServer
from tests.util import wait_until

# shell and sftp metacharacters, quotes, glob brackets and non-ASCII in one name
NASTY = "It's $(touch PWNED) `id`; a & b [1080p HEVC] \u00e9\u00e8 $HOME 'x'.mkv"


# --- pure ---------------------------------------------------------------------------------------------

def test_parse_rsync_progress() -> None:
    p = parse_rsync_progress("      1,234,567  45%   10.50MB/s    0:00:01 (xfr#1, to-chk=0/1)")
    assert p is not None and (p.bytes_done, p.percent, p.rate, p.eta) == (1234567, 45, "10.50MB/s", "0:00:01")
    assert parse_rsync_progress("          32,768 100%    0.00kB/s    0:00:00").bytes_done == 32768
    assert parse_rsync_progress("sending incremental file list") is None
    assert parse_rsync_progress("") is None


def test_split_progress_stream() -> None:
    lines, rest = split_progress_stream("  10   1%  1kB/s 0:00:09\r  20   2%  1kB/s 0:00:08\r  3")
    assert [parse_rsync_progress(ln).bytes_done for ln in lines] == [10, 20] and rest == "  3"


@pytest.mark.parametrize("policy, existing, same, expected", [
    ("never", None, False, "upload"),
    ("never", 10, True, "skip"),
    ("never", 10, False, "conflict"),
    ("never", 11, True, "conflict"),
    ("if_different", 10, True, "skip"),
    ("if_different", 10, False, "replace"),
    ("if_different", 9, False, "replace"),
    ("always", 10, True, "replace"),
])
def test_decide_existing(policy, existing, same, expected) -> None:
    calls = []

    def same_content() -> bool:
        calls.append(1)
        return same

    assert decide_existing(policy, existing, 10, same_content) == expected
    if existing != 10 or policy == "always":
        assert calls == []  # no costly checksum when sizes already differ


def test_validate_target() -> None:
    assert validate_target(Target("nas", movie_root="/m")) == []
    ok_remote = Target("nas", "sftp", host="nas.lan", user="media", key_file="/k", known_hosts_file="/kh",
                       tv_root="/tv")
    assert validate_target(ok_remote) == []
    problems = validate_target(Target("x", "ftp", host="-oProxyCommand=x", user="a b", movie_root="rel",
                                      overwrite="sometimes", max_concurrent=0))
    text = "\n".join(problems)
    for key in ("targets.x.protocol", "targets.x.overwrite", "targets.x.movie_root", "targets.x.max_concurrent"):
        assert key in text
    remote = "\n".join(validate_target(Target("y", "rsync", host="-oProxyCommand=x", user="a b", movie_root="/m")))
    for key in ("targets.y.host", "targets.y.user", "targets.y.key_file", "targets.y.known_hosts_file"):
        assert key in remote


def test_sftp_quote() -> None:
    assert sftp_quote('/a "b"\\c') == '"/a \\"b\\"\\\\c"'
    with pytest.raises(UnsafePathError):
        sftp_quote("/a\nput /etc/shadow /x")


# --- helpers ------------------------------------------------------------------------------------------

def make_file(path: Path, size: int, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = hashlib.sha256(str(seed).encode()).digest() * 4096  # 128 KiB pattern
    with open(path, "wb") as fh:
        remaining = size
        while remaining > 0:
            fh.write(block[:remaining])
            remaining -= len(block[:remaining])
    return path


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".annexd-" in p.name or p.name.endswith(".part")]


def remote_target(sshd: SshdServer, tmp_path: Path, protocol: str, name: str, **kw) -> Target:
    root = sshd.root / f"{name}-{os.urandom(4).hex()}"
    return Target(name, protocol, host=sshd.host, port=sshd.port, user=sshd.user, key_file=str(sshd.key_file),
                  known_hosts_file=str(tmp_path / "known_hosts"), movie_root=str(root / "movies"),
                  tv_root=str(root / "tv"), command_timeout=30, timeout=60, connect_timeout=5, **kw)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_file(tmp_path / "src" / "encoded [x].mkv", 3 * 1024 * 1024 + 12345)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))


def assert_delivered(result: DeliveryResult, source: Path) -> None:
    delivered = Path(result.remote_path)
    assert delivered.read_bytes() == source.read_bytes()
    assert result.size == source.stat().st_size
    assert result.checksum == hashlib.sha256(source.read_bytes()).hexdigest()
    assert not result.skipped_identical
    assert part_files(delivered.parent) == []


# --- local --------------------------------------------------------------------------------------------

def test_local_delivery_byte_for_byte(tmp_path: Path, source: Path) -> None:
    target = Target("local", movie_root=str(tmp_path / "movies"), tv_root=str(tmp_path / "tv"))
    progress = Recorder()
    rel = render_movie_path("Amélie: Le Film", 2001, "1080p HEVC", "mkv")
    before = metrics.REGISTRY.get_sample_value("annexd_deliveries_total", {"target": "local", "outcome": "ok"}) or 0
    result = deliver(target, source, rel, progress)
    assert result.remote_path == str(tmp_path / "movies" / rel) and result.verification == "sha256"
    assert_delivered(result, source)
    assert progress.calls[-1] == (result.size, result.size)
    assert [d for d, _ in progress.calls] == sorted(d for d, _ in progress.calls) and len(progress.calls) > 1
    assert metrics.REGISTRY.get_sample_value(
        "annexd_deliveries_total", {"target": "local", "outcome": "ok"}) == before + 1
    tv = deliver(target, source, "Show (2020)/Season 01/Show - S01E01.mkv", kind="tv")
    assert tv.remote_path.startswith(str(tmp_path / "tv") + "/")


def test_local_identical_skipped_different_conflicts(tmp_path: Path, source: Path) -> None:
    target = Target("local", movie_root=str(tmp_path / "movies"))
    first = deliver(target, source, "A/a.mkv")
    mtime = os.stat(first.remote_path).st_mtime_ns
    again = deliver(target, source, "A/a.mkv")
    assert again.skipped_identical and os.stat(first.remote_path).st_mtime_ns == mtime

    other = make_file(tmp_path / "other.mkv", source.stat().st_size, seed=2)  # same size, other bytes
    with pytest.raises(DestinationConflictError):
        deliver(target, other, "A/a.mkv")
    assert Path(first.remote_path).read_bytes() == source.read_bytes()
    assert part_files(tmp_path / "movies") == []

    replaced = deliver(Target("local", movie_root=str(tmp_path / "movies"), overwrite="if_different"),
                       other, "A/a.mkv")
    assert Path(replaced.remote_path).read_bytes() == other.read_bytes()


def test_local_conflict_created_during_transfer_is_not_clobbered(tmp_path: Path, source: Path) -> None:
    target = Target("local", movie_root=str(tmp_path / "movies"))
    dest = tmp_path / "movies" / "race.mkv"

    class Racy(LocalTransport):
        def upload(self, local, tmp, size, on_progress):
            super().upload(local, tmp, size, on_progress)
            dest.write_bytes(b"someone else")

    with pytest.raises(DestinationConflictError):
        deliver(target, source, "race.mkv", transport=Racy(target))
    assert dest.read_bytes() == b"someone else"
    assert part_files(tmp_path / "movies") == []


def test_unsafe_destinations_write_nothing(tmp_path: Path, source: Path) -> None:
    root = tmp_path / "root" / "movies"
    root.mkdir(parents=True)
    target = Target("local", movie_root=str(root))
    for rel in ("../escape.mkv", "a/../../escape.mkv", "/etc/escape.mkv", "", "a//b.mkv", "a/.hidden.mkv",
                "a/b?.mkv", 'a/"q".mkv', "a/b\nc.mkv", "a/ b.mkv"):
        with pytest.raises(UnsafePathError):
            deliver(target, source, rel)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)  # a symlinked directory inside the root that points out of it
    for rel in ("link/escape.mkv", "link/new dir/escape.mkv"):
        with pytest.raises(UnsafePathError):
            deliver(target, source, rel)
    assert list(outside.iterdir()) == []
    assert [p for p in all_files(tmp_path) if p != source] == []


def test_failure_after_upload_leaves_no_temp_file(tmp_path: Path, source: Path) -> None:
    target = Target("local", movie_root=str(tmp_path / "movies"))

    class Broken(LocalTransport):
        def commit(self, tmp, dest, *, replace):
            raise ProviderError("target:local", "disk gone")

    with pytest.raises(ProviderError, match="disk gone"):
        deliver(target, source, "A/a.mkv", transport=Broken(target))
    assert all_files(tmp_path / "movies") == []


def test_local_fails_once_then_succeeds(tmp_path: Path, source: Path) -> None:
    root = tmp_path / "movies"
    root.mkdir()
    (root / "A").write_text("a file where the directory should be")
    target = Target("local", movie_root=str(root))
    with pytest.raises(ProviderError):
        deliver(target, source, "A/a.mkv")
    (root / "A").unlink()
    assert_delivered(deliver(target, source, "A/a.mkv"), source)


def test_stale_temp_cleanup(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    stale = tmp_path / "d" / ".annexd-0123456789abcdef.part"
    stale.write_text("x")
    keep = tmp_path / "d" / "movie.mkv"
    keep.write_text("x")
    assert cleanup_stale_temp_files(tmp_path, 3600, now=stale.stat().st_mtime + 10) == 0
    assert cleanup_stale_temp_files(tmp_path, 3600, now=stale.stat().st_mtime + 7200) == 1
    assert not stale.exists() and keep.exists()


def test_target_limiter() -> None:
    limiter = TargetLimiter()
    target = Target("nas", movie_root="/m", max_concurrent=2)
    holding = [threading.Event(), threading.Event()]
    release = threading.Event()

    def hold(entered: threading.Event) -> None:
        with limiter.slot(target):
            entered.set()
            release.wait(10)

    holders = [threading.Thread(target=hold, args=(e,)) for e in holding]
    for t in holders:
        t.start()
    assert all(e.wait(10) for e in holding)
    with pytest.raises(ProviderError, match="slots busy"), limiter.slot(target, timeout=0.05):
        pass
    with limiter.slot(Target("other", movie_root="/m"), timeout=0.05):
        pass  # another target is not affected
    release.set()
    for t in holders:
        t.join(10)
    with limiter.slot(target, timeout=1):
        pass


# --- rsync and sftp over a real sshd ------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["rsync", "sftp"])
def test_remote_delivery_byte_for_byte(sshd: SshdServer, tmp_path: Path, source: Path, protocol: str) -> None:
    target = remote_target(sshd, tmp_path, protocol, protocol)
    progress = Recorder()
    result = deliver(target, source, f"Movie (2001)/{NASTY}", progress)
    assert result.remote_path == f"{target.movie_root}/Movie (2001)/{NASTY}"
    assert_delivered(result, source)
    assert result.verification == ("sha256" if protocol == "rsync" else "size")
    assert progress.calls[0] == (0, result.size) and progress.calls[-1] == (result.size, result.size)
    assert not list(Path(target.movie_root).parent.parent.rglob("PWNED")) and not Path("PWNED").exists()

    again = deliver(target, source, f"Movie (2001)/{NASTY}")
    assert again.skipped_identical

    other = make_file(tmp_path / "other.mkv", source.stat().st_size, seed=3)
    with pytest.raises(DestinationConflictError):
        deliver(target, other, f"Movie (2001)/{NASTY}")
    assert Path(result.remote_path).read_bytes() == source.read_bytes()
    assert part_files(Path(target.movie_root)) == []

    always = Target(**{**target.__dict__, "overwrite": "always"})
    assert Path(deliver(always, other, f"Movie (2001)/{NASTY}").remote_path).read_bytes() == other.read_bytes()


def _logins(sshd: SshdServer) -> int:
    return sshd.log_file.read_text(errors="replace").count("Accepted publickey")


def _master_alive(target: Target) -> bool:
    path = control_path(target)
    assert path is not None
    return subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "check", "-p", str(target.port),
                           f"{target.user}@{target.host}"], capture_output=True, timeout=10).returncode == 0


@pytest.mark.parametrize("protocol", ["rsync", "sftp"])
def test_deliveries_to_a_target_share_one_ssh_connection(sshd: SshdServer, tmp_path: Path, protocol: str) -> None:
    """Three deliveries (two at once) log in once; without reuse each of their commands logs in again."""
    sources = [make_file(tmp_path / "src" / f"ep{n}.mkv", 256 * 1024, seed=n) for n in range(3)]
    results = {}
    for reuse in (60, 0):
        target = remote_target(sshd, tmp_path, protocol, f"{protocol}{reuse}", ssh_reuse_seconds=reuse,
                               control_dir=str(tmp_path / "state" / "ssh"))
        before = _logins(sshd)
        deliver(target, sources[0], "Show/ep0.mkv", kind="tv")
        threads = [threading.Thread(target=deliver, args=(target, s, f"Show/{s.name}"), kwargs={"kind": "tv"})
                   for s in sources[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(p.name for p in Path(target.tv_root, "Show").iterdir()) == ["ep0.mkv", "ep1.mkv", "ep2.mkv"]
        results[reuse] = _logins(sshd) - before
        if reuse:
            assert _master_alive(target)
            close_shared_connection(target)
            wait_until(lambda t=target: not _master_alive(t), timeout=10, what="the shared connection closed")
    print(f"{protocol} logins for 3 deliveries: shared {results[60]}, unshared {results[0]}")
    assert results[60] == 1 and results[0] >= 9, results


def test_a_long_state_dir_shares_through_a_private_temp_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 80) / "ssh"
    target = Target("nas", "rsync", host="h", user="u", key_file="/k", known_hosts_file="/kh", movie_root="/m",
                    control_dir=str(deep))
    path = control_path(target)
    assert path is not None and len(path) <= 88 and not path.startswith(str(tmp_path))
    assert os.stat(Path(path).parent).st_mode & 0o777 == 0o700
    assert control_path(Target(**{**target.__dict__, "ssh_reuse_seconds": 0})) is None
    assert control_path(Target(**{**target.__dict__, "control_dir": ""})) is None


def test_rsync_reports_progress_from_rsync(sshd: SshdServer, tmp_path: Path) -> None:
    big = make_file(tmp_path / "big.mkv", 40 * 1024 * 1024)
    progress = Recorder()
    result = deliver(remote_target(sshd, tmp_path, "rsync", "rs-progress"), big, "big.mkv", progress)
    assert_delivered(result, big)
    done = [d for d, _ in progress.calls]
    assert done == sorted(done) and done[-1] == big.stat().st_size
    assert len(done) >= 3  # the start, at least one line parsed from rsync, the end


@pytest.mark.parametrize("protocol", ["rsync", "sftp"])
def test_remote_unsafe_destination(sshd: SshdServer, tmp_path: Path, source: Path, protocol: str) -> None:
    target = remote_target(sshd, tmp_path, protocol, f"unsafe-{protocol}")
    with pytest.raises(UnsafePathError):
        deliver(target, source, "../../escape.mkv")
    assert not Path(target.movie_root).exists() and not list(sshd.root.rglob("escape.mkv"))


def test_down_target_fails_while_local_succeeds_then_recovers(sshd: SshdServer, tmp_path: Path,
                                                               source: Path) -> None:
    remotes = [remote_target(sshd, tmp_path, p, f"down-{p}") for p in ("rsync", "sftp")]
    local = Target("local", movie_root=str(tmp_path / "local"))
    with sshd.down():
        for target in remotes:
            with pytest.raises(ProviderError) as exc:
                deliver(target, source, "A (1)/a.mkv")
            assert not isinstance(exc.value, DestinationConflictError)
            assert exc.value.retry_after
        assert_delivered(deliver(local, source, "A (1)/a.mkv"), source)
    for target in remotes:  # sshd is back: the retry succeeds and nothing was left behind
        assert_delivered(deliver(target, source, "A (1)/a.mkv"), source)


def test_remote_failure_after_upload_leaves_no_temp_file(sshd: SshdServer, tmp_path: Path,
                                                         source: Path) -> None:
    target = remote_target(sshd, tmp_path, "rsync", "rs-broken")

    class Broken(RsyncTransport):
        def commit(self, tmp, dest, *, replace):
            assert Path(str(tmp)).exists()  # the upload really happened
            raise ProviderError("target:rs-broken", "lost the connection")

    with pytest.raises(ProviderError, match="lost the connection"):
        deliver(target, source, "A/a.mkv", transport=Broken(target))
    assert all_files(Path(target.movie_root)) == []
    assert make_transport(target).stat(PurePosixPath(target.movie_root) / "A" / "a.mkv") is None


@pytest.mark.parametrize("protocol", ["rsync", "sftp"])
def test_transfer_timeout_kills_it_and_leaves_nothing(sshd: SshdServer, tmp_path: Path, protocol: str) -> None:
    slow = make_file(tmp_path / "slow.mkv", 4 * 1024 * 1024)
    base = remote_target(sshd, tmp_path, protocol, f"slow-{protocol}")
    # 4 MiB at 512 KiB/s takes 8 s; the 1.5 s budget kills it mid-transfer
    target = Target(**{**base.__dict__, "timeout": 1.5, "bandwidth_limit_kbps": 512})
    with pytest.raises(ProviderError, match="timed out") as exc:
        deliver(target, slow, "A/slow.mkv")
    assert exc.value.retry_after
    assert all_files(Path(target.movie_root)) == []


def test_progress_callback_can_cancel_an_rsync_transfer(sshd: SshdServer, tmp_path: Path) -> None:
    slow = make_file(tmp_path / "slow.mkv", 4 * 1024 * 1024)
    base = remote_target(sshd, tmp_path, "rsync", "cancel")
    target = Target(**{**base.__dict__, "bandwidth_limit_kbps": 512})

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if 0 < done < total:
            raise Cancelled

    with pytest.raises(Cancelled):
        deliver(target, slow, "A/slow.mkv", cancel)
    assert all_files(Path(target.movie_root)) == []


def test_changed_host_key_is_refused(sshd: SshdServer, tmp_path: Path, source: Path) -> None:
    target = remote_target(sshd, tmp_path, "rsync", "mitm")
    deliver(target, source, "first.mkv")  # accept-new pinned the real host key
    host_key = (sshd.directory / "keys" / "host_ed25519.pub").read_text().split()[1]
    assert host_key in Path(target.known_hosts_file).read_text()
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True, timeout=30)
    Path(target.known_hosts_file).write_text(
        f"[127.0.0.1]:{sshd.port} {(tmp_path / 'impostor.pub').read_text().split(' ')[0]} "
        f"{(tmp_path / 'impostor.pub').read_text().split(' ')[1]}\n")
    with pytest.raises(ProviderError, match="connection failed"):
        deliver(target, source, "second.mkv")
    assert not (Path(target.movie_root) / "second.mkv").exists()


@pytest.mark.parametrize("protocol", ["local", "rsync", "sftp"])
def test_crash_leftovers_are_swept_on_every_target_kind(sshd: SshdServer, tmp_path: Path, protocol: str) -> None:
    """A temp file a crash left (old), one still being written (fresh) and a delivered file: only the old temp
    file goes, at any depth of the target's roots."""
    target = (remote_target(sshd, tmp_path, protocol, protocol) if protocol != "local"
              else Target("lib", movie_root=str(tmp_path / "lib" / "movies"), tv_root=str(tmp_path / "lib" / "tv")))
    tv = Path(target.tv_root) / "Show" / "Season 01"
    movies = Path(target.movie_root) / "Film (2020)"
    for folder in (tv, movies):
        folder.mkdir(parents=True, exist_ok=True)
    old = [tv / ".annexd-0123456789abcdef.part", movies / ".annexd-fedcba9876543210.part"]
    fresh = tv / ".annexd-1111111111111111.part"
    kept = [fresh, tv / "Show - S01E01.mkv", movies / "annexd-not-ours.part"]
    for path in (*old, *kept):
        path.write_bytes(b"x" * 10)
    two_hours_ago = time.time() - 7200
    for path in (*old, kept[1], kept[2]):
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert sweep_temp_files(target, older_than_seconds=3600) == 2
    assert not any(p.exists() for p in old) and all(p.exists() for p in kept)
    assert sweep_temp_files(target, older_than_seconds=3600) == 0


# --- removing a delivered title (the *arr API's delete with deleteFiles) ---------------------------------

def _check_removal(target: Target, source: Path) -> None:
    result = deliver(target, source, f"Movie (2001)/{NASTY}")
    other = deliver(target, source, "Other (2002)/Other (2002).mkv")
    assert remove_delivered(target, result.remote_path) is True  # the file, then its emptied folder
    assert not Path(result.remote_path).exists() and not Path(result.remote_path).parent.exists()
    assert Path(other.remote_path).exists() and Path(target.movie_root).is_dir()  # the root stays
    (Path(other.remote_path).parent / "poster.jpg").write_bytes(b"x")
    assert remove_delivered(target, other.remote_path) is False  # a folder with other files stays
    assert not Path(other.remote_path).exists() and Path(other.remote_path).parent.is_dir()
    for unsafe in (f"{target.movie_root}/../escape.mkv", "/etc/hostname", "relative/x.mkv", target.movie_root):
        with pytest.raises(UnsafePathError):
            remove_delivered(target, unsafe)


def test_local_delivered_files_are_removed_inside_the_roots_only(tmp_path: Path, source: Path) -> None:
    target = Target("library", movie_root=str(tmp_path / "movies"), tv_root=str(tmp_path / "tv"))
    _check_removal(target, source)
    outside = make_file(tmp_path / "elsewhere" / "keep.mkv", 10)
    (tmp_path / "movies" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        remove_delivered(target, f"{target.movie_root}/link/keep.mkv")
    assert outside.exists()


@pytest.mark.parametrize("protocol", ["rsync", "sftp"])
def test_remote_delivered_files_are_removed(sshd: SshdServer, tmp_path: Path, source: Path, protocol: str) -> None:
    _check_removal(remote_target(sshd, tmp_path, protocol, f"rm-{protocol}"), source)
