"""ffmpeg/ffprobe: probe, progress parsing, a killable ffmpeg process, and a verified atomic encode.

Every subprocess has a timeout; ffmpeg runs in its own process group (``cancel()`` kills the whole group), never
reads stdin, and writes its progress blocks to stdout. Outputs are written to a hidden temporary name in the
destination directory and renamed into place only after they were verified.

One file, although over 400 lines: probing, the progress stream, the killable process and the verified encode
are the lifecycle of one ffmpeg run, and they share its process-group handling and its error texts.
"""

from __future__ import annotations

import collections
import functools
import glob
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from annexd.encoder.profiles import (
    EncodeProfile,
    MediaInfo,
    build_ffmpeg_args,
    expected_codec_name,
    required_encoders,
    target_height,
)
from annexd.errors import InvalidInputError, ProviderError
from annexd.processes import die_with_parent

__all__ = [
    "MediaInfo", "Progress", "EncodeResult", "EncodeError", "EncodeStalled", "EncodeCancelled", "VerifyError",
    "probe", "parse_progress_block", "FfmpegRun", "encode", "verify", "available_encoders", "temp_path_for",
]

log = structlog.get_logger(__name__)

STDERR_TAIL_LINES = 40
_PROGRESS_KEYS_END = ("continue", "end")


class EncodeError(ProviderError):
    """An encode failed. ``retriable`` says whether another attempt may succeed; ``stderr_tail`` is ffmpeg's."""

    def __init__(self, message: str, *, retriable: bool, stderr_tail: str = ""):
        super().__init__("ffmpeg", message)
        self.retriable = retriable
        self.stderr_tail = stderr_tail


class EncodeStalled(EncodeError):
    def __init__(self, seconds: float, stderr_tail: str = ""):
        super().__init__(f"no progress for {seconds:.0f} s; cancelled", retriable=True, stderr_tail=stderr_tail)


class EncodeCancelled(EncodeError):
    def __init__(self) -> None:
        super().__init__("cancelled", retriable=False)


class VerifyError(EncodeError):
    def __init__(self, message: str):
        super().__init__(f"verification failed: {message}", retriable=True)


@dataclass(frozen=True)
class Progress:
    frame: int | None = None
    fps: float | None = None
    speed: float | None = None
    out_time_s: float | None = None
    percent: float | None = None
    eta_s: float | None = None
    total_size: int | None = None
    done: bool = False


@dataclass(frozen=True)
class EncodeResult:
    output_path: str
    size: int
    duration: float
    elapsed: float
    info: MediaInfo


# --- probe ------------------------------------------------------------------------------------------------

def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def parse_probe_json(data: dict[str, Any], path: str = "") -> MediaInfo:
    """MediaInfo from ffprobe's ``-show_format -show_streams`` JSON (pure)."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = [s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get(
        "attached_pic")]
    if not video:
        raise InvalidInputError(f"{path}: no video stream")
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    subs = [s for s in streams if s.get("codec_type") == "subtitle"]
    duration = _float(fmt.get("duration")) or _float(video[0].get("duration")) or 0.0
    if duration <= 0:
        raise InvalidInputError(f"{path}: unknown or zero duration")
    return MediaInfo(
        duration=duration,
        format_name=str(fmt.get("format_name", "")),
        video_codec=str(video[0].get("codec_name", "")),
        width=int(video[0].get("width") or 0),
        height=int(video[0].get("height") or 0),
        has_audio=bool(audio),
        audio_codecs=tuple(str(s.get("codec_name", "")) for s in audio),
        subtitle_count=len(subs),
        subtitle_codecs=tuple(str(s.get("codec_name", "")) for s in subs),
        size=int(_float(fmt.get("size")) or 0),
    )


def probe(path: str | os.PathLike[str], timeout: float = 30.0, *, ffprobe: str = "ffprobe") -> MediaInfo:
    """ffprobe a file. A missing, corrupt or video-less file raises InvalidInputError."""
    path = str(path)
    if not os.path.isfile(path):
        raise InvalidInputError(f"{path}: not a file")
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise EncodeError(f"ffprobe timed out after {timeout} s on {path}", retriable=True) from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip()[-500:]
        raise InvalidInputError(f"{path}: ffprobe failed: {tail}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise InvalidInputError(f"{path}: ffprobe gave invalid JSON") from None
    return parse_probe_json(data, path)


@functools.lru_cache(maxsize=8)
def available_encoders(ffmpeg: str = "ffmpeg", timeout: float = 15.0) -> frozenset[str]:
    """Encoder names this ffmpeg offers (``ffmpeg -hide_banner -encoders``), cached per binary."""
    proc = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, check=False)
    return parse_encoders(proc.stdout.decode(errors="replace"))


def parse_encoders(text: str) -> frozenset[str]:
    names = set()
    seen_rule = False
    for line in text.splitlines():
        if line.strip().startswith("------"):
            seen_rule = True
            continue
        parts = line.split()
        if seen_rule and len(parts) >= 2 and re.fullmatch(r"[VAS][A-Z.]{5}", parts[0]):
            names.add(parts[1])
    return frozenset(names)


# --- progress ---------------------------------------------------------------------------------------------

def parse_progress_block(lines: Iterable[str], duration: float | None = None) -> Progress:
    """One ``-progress`` block (key=value lines) -> Progress. Uses out_time_us (out_time_ms is also µs)."""
    kv: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep:
            kv[key.strip()] = value.strip()
    out_us = _float(kv.get("out_time_us"))
    out_s = out_us / 1e6 if out_us is not None and out_us >= 0 else None
    speed_raw = kv.get("speed", "").rstrip("x").strip()
    speed = _float(speed_raw)
    frame = _float(kv.get("frame"))
    size = _float(kv.get("total_size"))
    done = kv.get("progress") == "end"
    percent = eta = None
    if duration and duration > 0 and out_s is not None:
        percent = 100.0 if done else max(0.0, min(100.0, out_s * 100.0 / duration))
        if speed and speed > 0:
            eta = max(0.0, (duration - out_s) / speed)
    if done:
        percent, eta = 100.0, 0.0
    return Progress(frame=int(frame) if frame is not None else None, fps=_float(kv.get("fps")), speed=speed,
                    out_time_s=out_s, percent=percent, eta_s=eta,
                    total_size=int(size) if size is not None else None, done=done)


class FfmpegRun:
    """One ffmpeg process in its own process group, with progress read from stdout by a thread."""

    def __init__(self, args: list[str], *, duration: float | None = None,
                 on_progress: Callable[[Progress], None] | None = None, env: dict[str, str] | None = None):
        self.args = list(args)
        self.duration = duration
        self.on_progress = on_progress
        self.env = {**os.environ, "SVT_LOG": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_progress: Progress | None = None
        self.last_activity = 0.0  # monotonic time of the last change of frame/out_time
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.cancelled = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> FfmpegRun:
        # Its own process group (cancel kills the group); SIGKILLed by Linux if the agent dies, even by SIGKILL.
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, env=self.env,
                                     preexec_fn=die_with_parent(signal.SIGKILL))
        self.last_activity = time.monotonic()
        for target in (self._read_stdout, self._read_stderr):
            t = threading.Thread(target=target, daemon=True, name=f"ffmpeg-{self.proc.pid}-{target.__name__}")
            t.start()
            self._threads.append(t)
        log.debug("ffmpeg_started", pid=self.proc.pid)
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        block: list[str] = []
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            block.append(line)
            if line.startswith("progress=") and line.partition("=")[2] in _PROGRESS_KEYS_END:
                self._on_block(parse_progress_block(block, self.duration))
                block = []

    def _on_block(self, progress: Progress) -> None:
        prev = self.last_progress
        moved = prev is None or (progress.frame, progress.out_time_s) != (prev.frame, prev.out_time_s)
        with self._lock:
            self.last_progress = progress
            if moved:
                self.last_activity = time.monotonic()
        if self.on_progress:
            try:
                self.on_progress(progress)
            except Exception:  # a broken callback must not stop the reader
                log.exception("progress_callback_failed")

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def seconds_since_activity(self) -> float:
        with self._lock:
            return time.monotonic() - self.last_activity

    def cancel(self) -> None:
        """Kill the whole process group (also when it was stopped) and reap it."""
        if not self.proc:
            return
        self.cancelled = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("ffmpeg_unkillable", pid=self.proc.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None when still running after ``timeout``; joins the reader threads on exit."""
        if not self.proc:
            return None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(timeout=5)
        return rc


# --- encode -----------------------------------------------------------------------------------------------

def temp_path_for(dst: Path) -> Path:
    """``dir/.name.<random>.partial.ext``: hidden, unique per run, same filesystem as the destination."""
    return dst.with_name(f".{dst.stem}.{secrets.token_hex(4)}.partial{dst.suffix}")


def _remove_stale_partials(dst: Path) -> None:
    for stale in glob.glob(os.path.join(glob.escape(str(dst.parent)), f".{glob.escape(dst.stem)}.*.partial"
                                        f"{glob.escape(dst.suffix)}")):
        _unlink(Path(stale))


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fsync_and_rename(tmp: Path, dst: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dst)
    dfd = os.open(dst.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _classify_failure(rc: int, tail: str) -> EncodeError:
    permanent = re.search(r"Invalid data found|Unknown encoder|Encoder not found|could not find codec|"
                          r"No such file|Invalid argument", tail, re.IGNORECASE)
    return EncodeError(f"ffmpeg exited with {rc}", retriable=not permanent, stderr_tail=tail)


def _supervise(run: FfmpegRun, cancel_event: threading.Event | None, stall_seconds: float,
               timeout: float | None) -> int:
    """Wait for ffmpeg while watching for cancel, stall and overall timeout."""
    started = time.monotonic()
    while True:
        rc = run.wait(timeout=0.2)
        if rc is not None:
            return rc
        if cancel_event is not None and cancel_event.is_set():
            run.cancel()
            raise EncodeCancelled()
        idle = run.seconds_since_activity()
        if idle >= stall_seconds:
            run.cancel()
            log.warning("encode_stalled", pid=run.pid, idle_seconds=round(idle, 1))
            raise EncodeStalled(idle, run.stderr_tail())
        if timeout is not None and time.monotonic() - started > timeout:
            run.cancel()
            raise EncodeError(f"encode exceeded {timeout} s", retriable=True, stderr_tail=run.stderr_tail())


def encode(profile: EncodeProfile, src: str | os.PathLike[str], dst: str | os.PathLike[str],
           on_progress: Callable[[Progress], None] | None = None, cancel_event: threading.Event | None = None,
           stall_seconds: float = 120.0, *, timeout: float | None = None, probe_timeout: float = 30.0,
           on_start: Callable[[FfmpegRun], None] | None = None) -> EncodeResult:
    """Encode ``src`` into ``dst`` (blocking; run it in a worker thread), verify, and rename atomically.

    Raises InvalidInputError (bad source, never retriable), EncodeCancelled, EncodeStalled (retriable),
    VerifyError (retriable) or EncodeError (``retriable`` set). No temporary file is left behind on failure.
    """
    src_path, dst_path = Path(src), Path(dst)
    source = probe(src_path, probe_timeout)
    missing = required_encoders(profile) - available_encoders()
    if missing:
        raise EncodeError(f"encoders not available here: {sorted(missing)}", retriable=False)
    if not dst_path.parent.is_dir():
        raise EncodeError(f"output directory {dst_path.parent} does not exist", retriable=False)
    _remove_stale_partials(dst_path)
    tmp = temp_path_for(dst_path)
    run = FfmpegRun(build_ffmpeg_args(profile, str(src_path), str(tmp), source), duration=source.duration,
                    on_progress=on_progress)
    started = time.monotonic()
    ok = False
    try:
        run.start()
        if on_start:
            on_start(run)
        rc = _supervise(run, cancel_event, stall_seconds, timeout)
        if rc != 0:
            raise _classify_failure(rc, run.stderr_tail())
        info = verify(source, tmp, profile, timeout=probe_timeout)
        _fsync_and_rename(tmp, dst_path)
        ok = True
    finally:
        if run.poll() is None:
            run.cancel()
        if not ok:
            _unlink(tmp)
    elapsed = time.monotonic() - started
    size = dst_path.stat().st_size
    log.info("encode_done", output=str(dst_path), size=size, elapsed=round(elapsed, 3), codec=profile.codec)
    return EncodeResult(output_path=str(dst_path), size=size, duration=info.duration, elapsed=elapsed, info=info)


def verification_problems(source: MediaInfo, out: MediaInfo, profile: EncodeProfile) -> list[str]:
    """Pure check of an output against its source and profile."""
    problems = []
    tolerance = max(1.0, 0.02 * source.duration)
    if abs(out.duration - source.duration) > tolerance:
        problems.append(f"duration {out.duration:.2f} s vs source {source.duration:.2f} s")
    want = expected_codec_name(profile)
    if want and out.video_codec != want:
        problems.append(f"video codec {out.video_codec!r}, expected {want!r}")
    limit = target_height(profile, source) or (source.height if profile.max_height else None)
    if profile.max_height is not None and limit is not None and out.height > max(limit, 0):
        problems.append(f"height {out.height} above {limit}")
    if source.has_audio and not out.has_audio:
        problems.append("audio missing")
    return problems


def verify(src_info: MediaInfo, out_path: str | os.PathLike[str], profile: EncodeProfile,
           timeout: float = 30.0) -> MediaInfo:
    """ffprobe the output and check it against the source; VerifyError when it does not match."""
    try:
        out = probe(out_path, timeout)
    except InvalidInputError as exc:
        raise VerifyError(str(exc)) from None
    problems = verification_problems(src_info, out, profile)
    if problems:
        raise VerifyError("; ".join(problems))
    return out
