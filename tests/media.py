"""Generate short test clips with real ffmpeg (lavfi testsrc + sine). Reusable by any test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.servers import refuse_under_test_fast

_ENCODER_ARGS = {
    "libx264": ["-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "libx265": ["-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error"],
    "libsvtav1": ["-preset", "12", "-pix_fmt", "yuv420p"],
    "mpeg4": ["-q:v", "5"],
}


def make_clip(path: str | os.PathLike[str], seconds: float = 2, size: str = "320x240", audio: bool = True,
              codec: str = "libx264", rate: int = 24, subtitles: bool = False, timeout: float = 60) -> Path:
    """Write a ``seconds`` long clip (testsrc video, 440 Hz sine audio) and return its path.

    ``subtitles=True`` adds one SubRip track (mkv only). The container follows the file extension.
    """
    refuse_under_test_fast("ffmpeg")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate={rate}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=48000"]
    srt = None
    if subtitles:
        srt = path.with_suffix(".srt")
        srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n")
        cmd += ["-i", str(srt)]
    cmd += ["-map", "0:v"]
    if audio:
        cmd += ["-map", "1:a"]
    if subtitles:
        cmd += ["-map", f"{2 if audio else 1}:s", "-c:s", "srt"]
    cmd += ["-c:v", codec, *_ENCODER_ARGS.get(codec, [])]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    cmd += ["-t", str(seconds), str(path)]
    subprocess.run(cmd, check=True, timeout=timeout, env={**os.environ, "SVT_LOG": "1"},
                   stdin=subprocess.DEVNULL, capture_output=True)
    if srt:
        srt.unlink()
    return path


def make_corrupt(path: str | os.PathLike[str], size: int = 4096) -> Path:
    """A file with a video extension and garbage content."""
    path = Path(path)
    path.write_bytes(b"\x1a\x45\xdf\xa3" + os.urandom(size))
    return path
