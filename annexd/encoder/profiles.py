"""Encode profiles and the ffmpeg command line they produce (pure: no I/O).

``build_ffmpeg_args`` always emits ``-nostdin -hide_banner -loglevel error -nostats -y`` and machine-readable
progress on stdout (``-progress pipe:1 -stats_period 0.5``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from annexd.errors import InvalidInputError

SOFTWARE_VIDEO = ("libsvtav1", "libx265", "libx264")
AUDIO_POLICIES = ("copy", "opus", "aac")
SUBTITLE_POLICIES = ("copy", "none")
CONTAINERS = ("mkv", "mp4")
# Encoder name -> codec_name that ffprobe reports for its output.
OUTPUT_CODEC = {
    "libx264": "h264", "libx265": "hevc", "libsvtav1": "av1",
    "h264_nvenc": "h264", "hevc_nvenc": "hevc", "av1_nvenc": "av1",
    "h264_qsv": "h264", "hevc_qsv": "hevc", "av1_qsv": "av1",
    "h264_vaapi": "h264", "hevc_vaapi": "hevc", "av1_vaapi": "av1",
    "h264_videotoolbox": "h264", "hevc_videotoolbox": "hevc",
}
AUDIO_ENCODER = {"opus": "libopus", "aac": "aac"}
# Subtitle codecs that mp4 can carry after conversion to mov_text; image subtitles (PGS, VobSub) are dropped.
TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
_ENCODER_RE = re.compile(r"^[a-z0-9_]{2,40}$")
_BITRATE_RE = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgG]?)$")
_PRESET_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
_MULT = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe said about a file (see ``annexd.encoder.ffmpeg.probe``)."""

    duration: float
    format_name: str
    video_codec: str
    width: int
    height: int
    has_audio: bool
    audio_codecs: tuple[str, ...] = ()
    subtitle_count: int = 0
    subtitle_codecs: tuple[str, ...] = ()
    size: int = 0


@dataclass(frozen=True)
class EncodeProfile:
    name: str
    codec: str = "libx265"
    crf: int = 24
    preset: str = "medium"
    max_height: int | None = None
    max_bitrate: str | None = None
    audio: str = "copy"
    audio_bitrate: str = "128k"
    subtitles: str = "copy"
    container: str = "mkv"
    extra_video_args: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        problems = profile_problems(self)
        if problems:
            raise InvalidInputError(f"encode profile {self.name!r}: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra_video_args"] = list(self.extra_video_args)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncodeProfile:
        """Build a profile from untrusted data (an agent message, a config table); InvalidInputError if bad."""
        if not isinstance(data, Mapping):
            raise InvalidInputError("encode profile must be an object")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(f"encode profile: unknown keys {sorted(unknown)}")
        kwargs = dict(data)
        if "extra_video_args" in kwargs:
            extra = kwargs["extra_video_args"]
            if not isinstance(extra, list | tuple) or not all(isinstance(a, str) for a in extra):
                raise InvalidInputError("encode profile: extra_video_args must be a list of strings")
            kwargs["extra_video_args"] = tuple(extra)
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"encode profile: {exc}") from None

    @property
    def extension(self) -> str:
        return self.container


def profile_problems(p: EncodeProfile) -> list[str]:
    """Every problem of a profile (empty when valid)."""
    out: list[str] = []
    typed = {"name": str, "codec": str, "preset": str, "audio": str, "audio_bitrate": str, "subtitles": str,
             "container": str}
    for key, typ in typed.items():
        if not isinstance(getattr(p, key), typ):
            out.append(f"{key} must be a string")
    if out:
        return out
    if not p.name or len(p.name) > 64:
        out.append("name must be 1..64 characters")
    if not _ENCODER_RE.match(p.codec):
        out.append(f"codec {p.codec!r} is not an encoder name")
    if not isinstance(p.crf, int) or isinstance(p.crf, bool) or not 0 <= p.crf <= 63:
        out.append("crf must be an integer 0..63")
    elif p.codec in ("libx264", "libx265") and p.crf > 51:
        out.append(f"crf must be <= 51 for {p.codec}")
    if not _PRESET_RE.match(p.preset):
        out.append(f"preset {p.preset!r} is invalid")
    if p.max_height is not None and (
        not isinstance(p.max_height, int) or isinstance(p.max_height, bool) or not 16 <= p.max_height <= 8640
    ):
        out.append("max_height must be an integer 16..8640")
    if p.max_bitrate is not None and (not isinstance(p.max_bitrate, str) or not _BITRATE_RE.match(p.max_bitrate)):
        out.append(f"max_bitrate {p.max_bitrate!r} is invalid (e.g. '8M')")
    if p.audio not in AUDIO_POLICIES:
        out.append(f"audio must be one of {AUDIO_POLICIES}")
    if not _BITRATE_RE.match(p.audio_bitrate):
        out.append(f"audio_bitrate {p.audio_bitrate!r} is invalid (e.g. '128k')")
    if p.subtitles not in SUBTITLE_POLICIES:
        out.append(f"subtitles must be one of {SUBTITLE_POLICIES}")
    if p.container not in CONTAINERS:
        out.append(f"container must be one of {CONTAINERS}")
    for arg in p.extra_video_args:
        if not isinstance(arg, str) or arg in ("-i", "-y", "-f") or arg.startswith("-progress"):
            out.append(f"extra_video_args may not contain {arg!r}")
    return out


def bitrate_bits(value: str) -> int:
    """'8M' -> 8_000_000 (ffmpeg's decimal suffixes)."""
    m = _BITRATE_RE.match(value)
    if not m:
        raise InvalidInputError(f"bitrate {value!r} is invalid")
    return int(float(m.group(1)) * _MULT[m.group(2).lower()])


def required_encoder(profile: EncodeProfile) -> str:
    """The video encoder an agent must have to run this profile."""
    return profile.codec


def required_encoders(profile: EncodeProfile) -> frozenset[str]:
    """Every encoder (video and audio) the profile needs."""
    need = {profile.codec}
    if profile.audio in AUDIO_ENCODER:
        need.add(AUDIO_ENCODER[profile.audio])
    return frozenset(need)


def expected_codec_name(profile: EncodeProfile) -> str | None:
    """ffprobe codec_name of the output's video stream, when known for the encoder."""
    return OUTPUT_CODEC.get(profile.codec)


def target_height(profile: EncodeProfile, source: MediaInfo | None) -> int | None:
    """The output height when the profile downscales this source, else None (never upscales)."""
    if profile.max_height is None or source is None or source.height <= 0:
        return None
    limit = profile.max_height - profile.max_height % 2
    return limit if source.height > limit else None


def _quality_args(profile: EncodeProfile) -> list[str]:
    codec, crf = profile.codec, str(profile.crf)
    if codec in SOFTWARE_VIDEO or codec.startswith("lib"):
        return ["-preset", profile.preset, "-crf", crf]
    if codec.endswith("_nvenc"):
        return ["-preset", profile.preset, "-rc", "vbr", "-cq", crf]
    if codec.endswith("_qsv"):
        return ["-preset", profile.preset, "-global_quality", crf]
    if codec.endswith("_vaapi"):
        return ["-rc_mode", "CQP", "-qp", crf]
    if codec.endswith("_videotoolbox"):
        return ["-q:v", crf]
    return ["-crf", crf]


def _video_filter_args(profile: EncodeProfile, source: MediaInfo | None) -> list[str]:
    if profile.max_height is None:
        return []
    if source is None or source.height <= 0:
        limit = profile.max_height - profile.max_height % 2
        return ["-vf", f"scale=-2:'min(ih,{limit})'"]
    height = target_height(profile, source)
    return ["-vf", f"scale=-2:{height}"] if height else []


def _rate_args(profile: EncodeProfile) -> list[str]:
    if not profile.max_bitrate:
        return []
    bits = bitrate_bits(profile.max_bitrate)
    return ["-maxrate", str(bits), "-bufsize", str(bits * 2)]


def _audio_args(profile: EncodeProfile) -> list[str]:
    if profile.audio == "copy":
        return ["-c:a", "copy"]
    return ["-c:a", AUDIO_ENCODER[profile.audio], "-b:a", profile.audio_bitrate]


def _subtitle_args(profile: EncodeProfile, source: MediaInfo | None) -> tuple[list[str], list[str]]:
    """(map args, codec args) for subtitles."""
    if profile.subtitles == "none":
        return [], ["-sn"]
    if profile.container == "mkv":
        return ["-map", "0:s?"], ["-c:s", "copy"]
    # mp4 carries text subtitles as mov_text only; image subtitles cannot be converted and are dropped.
    if source is None:
        return [], ["-sn"]
    maps = [arg for i, c in enumerate(source.subtitle_codecs) if c in TEXT_SUBTITLES for arg in ("-map", f"0:s:{i}")]
    return (maps, ["-c:s", "mov_text"]) if maps else ([], ["-sn"])


def build_ffmpeg_args(
    profile: EncodeProfile, input_path: str, output_path: str, source_info: MediaInfo | None = None,
    *, ffmpeg: str = "ffmpeg",
) -> list[str]:
    """The full argv (starting with the ffmpeg binary) to encode ``input_path`` into ``output_path``."""
    sub_maps, sub_codec = _subtitle_args(profile, source_info)
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats", "-y", "-i", str(input_path),
            "-map", "0:v:0", "-map", "0:a?", *sub_maps,
            "-c:v", profile.codec, *_quality_args(profile), *_rate_args(profile), *profile.extra_video_args,
            *_video_filter_args(profile, source_info),
            *_audio_args(profile), *sub_codec,
            "-max_muxing_queue_size", "1024",
            "-f", "matroska" if profile.container == "mkv" else "mp4",
            "-progress", "pipe:1", "-stats_period", "0.5", str(output_path)]
    return args
