"""Real ffmpeg on tiny generated clips."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from annexd.encoder.ffmpeg import (
    EncodeCancelled,
    EncodeError,
    EncodeStalled,
    FfmpegRun,
    available_encoders,
    encode,
    parse_encoders,
    parse_progress_block,
    probe,
    verification_problems,
    verify,
)
from annexd.encoder.profiles import EncodeProfile, MediaInfo
from annexd.errors import InvalidInputError
from tests.media import make_clip, make_corrupt

SLOW = EncodeProfile("slow", "libx265", 28, "veryslow")


def wait_for(cond, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial" in p.name)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, ffmpeg):
    return make_clip(tmp_path_factory.mktemp("src") / "clip.mkv", seconds=2, size="320x240", subtitles=True)


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory, ffmpeg):
    return make_clip(tmp_path_factory.mktemp("slow") / "slow.mkv", seconds=3, size="640x360")


# --- pure ----------------------------------------------------------------------------------------------------

def test_parse_progress_block_uses_out_time_us():
    block = ["frame=120", "fps=114.57", "bitrate= 243.8kbits/s", "total_size=153411", "out_time_us=2500000",
             "out_time_ms=9999999999", "out_time=00:00:02.500000", "speed=2.0x", "progress=continue"]
    p = parse_progress_block(block, duration=5.0)
    assert p.frame == 120 and p.fps == pytest.approx(114.57) and p.speed == 2.0
    assert p.out_time_s == pytest.approx(2.5) and p.percent == pytest.approx(50.0)
    assert p.eta_s == pytest.approx(1.25) and p.total_size == 153411 and not p.done


def test_parse_progress_block_handles_na_and_end():
    start = parse_progress_block(["frame=0", "fps=0.00", "out_time_us=N/A", "speed=N/A", "progress=continue"], 5)
    assert start.out_time_s is None and start.percent is None and start.speed is None and start.eta_s is None
    end = parse_progress_block(["frame=120", "out_time_us=4990000", "speed=3x", "progress=end"], 5)
    assert end.done and end.percent == 100.0 and end.eta_s == 0.0
    over = parse_progress_block(["out_time_us=6000000", "progress=continue"], 5)
    assert over.percent == 100.0
    assert parse_progress_block(["garbage", "=", "out_time_us=1000000"]).percent is None


def test_parse_encoders_and_available(ffmpeg):
    text = " V..... = Video\n ------\n V....D libx264  H.264\n A....D aac   AAC\n S..... srt  SubRip\n"
    assert parse_encoders(text) == {"libx264", "aac", "srt"}
    assert {"libx264", "libx265", "libsvtav1", "aac", "libopus"} <= available_encoders()


def test_verification_problems_pure():
    src = MediaInfo(10.0, "mkv", "h264", 1920, 1080, True)
    prof = EncodeProfile("p", "libx265", max_height=720)
    good = MediaInfo(10.1, "mkv", "hevc", 1280, 720, True)
    assert verification_problems(src, good, prof) == []
    bad = MediaInfo(7.0, "mkv", "h264", 1920, 1080, False)
    problems = " | ".join(verification_problems(src, bad, prof))
    for word in ("duration", "codec", "height", "audio"):
        assert word in problems
    # the tolerance is max(1 s, 2 %)
    long_src = MediaInfo(3600.0, "mkv", "h264", 1280, 720, False)
    assert verification_problems(long_src, MediaInfo(3650.0, "mkv", "hevc", 1280, 720, False), prof) == []


# --- probe ----------------------------------------------------------------------------------------------------

def test_probe_clip(clip):
    info = probe(clip)
    assert info.video_codec == "h264" and (info.width, info.height) == (320, 240)
    assert info.has_audio and info.subtitle_count == 1 and info.subtitle_codecs == ("subrip",)
    assert abs(info.duration - 2.0) < 0.2


def test_probe_corrupt_and_missing(tmp_path, ffmpeg):
    with pytest.raises(InvalidInputError):
        probe(make_corrupt(tmp_path / "bad.mkv"))
    with pytest.raises(InvalidInputError):
        probe(tmp_path / "missing.mkv")


# --- encodes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile,codec,height", [
    (EncodeProfile("x264", "libx264", 28, "veryfast", max_height=180, audio="opus"), "h264", 180),
    (EncodeProfile("x265", "libx265", 30, "ultrafast", max_bitrate="1M"), "hevc", 240),
    (EncodeProfile("av1", "libsvtav1", 45, "12", container="mp4", audio="aac", audio_bitrate="64k"), "av1", 240),
], ids=["x264", "x265", "svtav1-mp4"])
def test_encode_verifies_and_renames(tmp_path, clip, profile, codec, height):
    dst = tmp_path / f"out.{profile.container}"
    seen = []
    result = encode(profile, clip, dst, on_progress=seen.append, stall_seconds=30, timeout=60)
    assert dst.is_file() and result.output_path == str(dst) and result.size == dst.stat().st_size > 0
    info = probe(dst)
    assert info.video_codec == codec and info.height == height and info.width % 2 == 0
    assert info.has_audio and abs(info.duration - 2.0) < 1.0
    if profile.container == "mp4":
        assert info.subtitle_codecs == ("mov_text",)
    assert seen and seen[-1].done and seen[-1].percent == 100.0
    assert leftovers(tmp_path) == []


def test_encode_corrupt_input_fails_clearly(tmp_path, ffmpeg):
    bad = make_corrupt(tmp_path / "bad.mkv")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInputError, match="bad.mkv"):
        encode(EncodeProfile("p", "libx264", 28, "ultrafast"), bad, out / "x.mkv")
    assert list(out.iterdir()) == []


def test_ffmpeg_failure_keeps_stderr_tail_and_removes_temp(tmp_path, clip):
    # a profile whose extra args ffmpeg rejects: non-zero exit after the temp file was named
    prof = EncodeProfile("p", "libx264", 28, "ultrafast", extra_video_args=("-x264-params", "nonsense=1:bogus"))
    with pytest.raises(EncodeError) as err:
        encode(prof, clip, tmp_path / "x.mkv")
    assert err.value.stderr_tail and "exited" in str(err.value)
    assert leftovers(tmp_path) == [] and not (tmp_path / "x.mkv").exists()


def test_verify_rejects_wrong_codec(tmp_path, clip):
    with pytest.raises(EncodeError, match="codec"):
        verify(probe(clip), clip, EncodeProfile("p", "libx265"))


def _start_in_thread(fn):
    box = {}

    def run():
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: B036 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_cancel_kills_process_group_and_removes_temp(tmp_path, slow_clip):
    runs, seen, cancel = [], [], threading.Event()
    t, box = _start_in_thread(lambda: encode(SLOW, slow_clip, tmp_path / "out.mkv", on_progress=seen.append,
                                             cancel_event=cancel, on_start=runs.append))
    wait_for(lambda: seen and leftovers(tmp_path))
    pgid = runs[0].pid
    assert group_alive(pgid)
    cancel.set()
    t.join(15)
    assert isinstance(box.get("error"), EncodeCancelled)
    assert not group_alive(pgid)
    assert leftovers(tmp_path) == [] and not (tmp_path / "out.mkv").exists()


def test_stall_is_detected_and_cancelled(tmp_path, slow_clip):
    runs, seen = [], []
    t, box = _start_in_thread(lambda: encode(SLOW, slow_clip, tmp_path / "out.mkv", on_progress=seen.append,
                                             stall_seconds=1.0, on_start=runs.append))
    wait_for(lambda: seen)
    pgid = runs[0].pid
    os.killpg(pgid, signal.SIGSTOP)  # the progress source stops
    started = time.monotonic()
    t.join(15)
    err = box.get("error")
    assert isinstance(err, EncodeStalled) and err.retriable
    assert 0.5 < time.monotonic() - started < 5
    assert not group_alive(pgid)
    assert leftovers(tmp_path) == []


def test_ffmpeg_run_wait_and_cancel_direct(tmp_path, ffmpeg):
    run = FfmpegRun(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                     "testsrc=duration=30:size=64x64:rate=5", "-progress", "pipe:1", "-stats_period", "0.2",
                     "-f", "null", "-"], duration=30).start()
    assert run.wait(timeout=0.3) is None
    wait_for(lambda: run.last_progress is not None)
    run.cancel()
    assert run.wait(timeout=5) == -signal.SIGKILL
    assert not group_alive(run.pid)
