import pytest

from annexd.encoder.profiles import (
    EncodeProfile,
    MediaInfo,
    bitrate_bits,
    build_ffmpeg_args,
    required_encoder,
    required_encoders,
)
from annexd.errors import InvalidInputError

SRC = MediaInfo(duration=10.0, format_name="matroska,webm", video_codec="h264", width=1920, height=1080,
                has_audio=True, audio_codecs=("aac",), subtitle_count=2, subtitle_codecs=("subrip", "hdmv_pgs_subtitle"))


def _after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_common_flags_and_progress():
    args = build_ffmpeg_args(EncodeProfile("p", "libx265", 24, "medium"), "/in.mkv", "/out.mkv", SRC)
    assert args[0] == "ffmpeg"
    assert args[1:8] == ["-nostdin", "-hide_banner", "-loglevel", "error", "-nostats", "-y", "-i"]
    assert args[-5:] == ["-progress", "pipe:1", "-stats_period", "0.5", "/out.mkv"]
    assert _after(args, "-i") == "/in.mkv"
    assert _after(args, "-c:v") == "libx265"
    assert _after(args, "-crf") == "24"
    assert _after(args, "-preset") == "medium"
    assert _after(args, "-f") == "matroska"
    assert "-vf" not in args and "-maxrate" not in args


def test_downscale_keeps_aspect_even_and_never_upscales():
    p = EncodeProfile("p", "libx264", 22, "veryfast", max_height=720)
    assert _after(build_ffmpeg_args(p, "/a", "/b", SRC), "-vf") == "scale=-2:720"
    small = MediaInfo(5, "mkv", "h264", 640, 360, False)
    assert "-vf" not in build_ffmpeg_args(p, "/a", "/b", small)
    odd = EncodeProfile("p", "libx264", 22, "veryfast", max_height=719)
    assert _after(build_ffmpeg_args(odd, "/a", "/b", SRC), "-vf") == "scale=-2:718"
    # unknown source: let ffmpeg take the minimum
    assert _after(build_ffmpeg_args(p, "/a", "/b", None), "-vf") == "scale=-2:'min(ih,720)'"


def test_max_bitrate_sets_maxrate_and_bufsize():
    args = build_ffmpeg_args(EncodeProfile("p", "libx265", max_bitrate="8M"), "/a", "/b", SRC)
    assert _after(args, "-maxrate") == "8000000"
    assert _after(args, "-bufsize") == "16000000"
    assert bitrate_bits("1.5k") == 1500


@pytest.mark.parametrize("policy,expected", [
    ("copy", ["-c:a", "copy"]), ("opus", ["-c:a", "libopus", "-b:a", "96k"]), ("aac", ["-c:a", "aac", "-b:a", "96k"]),
])
def test_audio_policy(policy, expected):
    args = build_ffmpeg_args(EncodeProfile("p", audio=policy, audio_bitrate="96k"), "/a", "/b", SRC)
    i = args.index("-c:a")
    assert args[i:i + len(expected)] == expected
    assert ["-map", "0:a?"] == args[args.index("0:a?") - 1: args.index("0:a?") + 1]


def test_subtitles_mkv_copy_none_and_mp4_text_only():
    mkv = build_ffmpeg_args(EncodeProfile("p", subtitles="copy"), "/a", "/b", SRC)
    assert "0:s?" in mkv and _after(mkv, "-c:s") == "copy"
    none = build_ffmpeg_args(EncodeProfile("p", subtitles="none"), "/a", "/b", SRC)
    assert "-sn" in none and "0:s?" not in none
    mp4 = build_ffmpeg_args(EncodeProfile("p", container="mp4"), "/a", "/b", SRC)
    assert _after(mp4, "-f") == "mp4"
    assert "0:s:0" in mp4 and "0:s:1" not in mp4  # PGS cannot go into mp4: dropped
    assert _after(mp4, "-c:s") == "mov_text"
    pgs_only = MediaInfo(5, "mkv", "h264", 640, 360, True, subtitle_count=1, subtitle_codecs=("hdmv_pgs_subtitle",))
    assert "-sn" in build_ffmpeg_args(EncodeProfile("p", container="mp4"), "/a", "/b", pgs_only)


def test_hardware_encoder_quality_args():
    args = build_ffmpeg_args(EncodeProfile("p", "hevc_nvenc", 28, "p5"), "/a", "/b", SRC)
    assert _after(args, "-cq") == "28" and "-crf" not in args
    vaapi = build_ffmpeg_args(EncodeProfile("p", "hevc_vaapi", 25), "/a", "/b", SRC)
    assert _after(vaapi, "-qp") == "25"


def test_required_encoders():
    p = EncodeProfile("p", "libsvtav1", 35, "8", audio="opus")
    assert required_encoder(p) == "libsvtav1"
    assert required_encoders(p) == {"libsvtav1", "libopus"}
    assert required_encoders(EncodeProfile("p", "libx264")) == {"libx264"}


@pytest.mark.parametrize("kwargs", [
    {"codec": "lib x264"}, {"codec": "libx264; rm"}, {"crf": 70}, {"codec": "libx264", "crf": 55}, {"crf": True},
    {"preset": "fast; rm -rf"}, {"max_height": 7}, {"max_bitrate": "lots"}, {"audio": "flac"},
    {"subtitles": "burn"}, {"container": "avi"}, {"extra_video_args": ("-y",)}, {"name": ""},
])
def test_invalid_profiles_rejected(kwargs):
    with pytest.raises(InvalidInputError):
        EncodeProfile(**{"name": "p", **kwargs})


def test_round_trip_and_untrusted_dicts():
    p = EncodeProfile("p", "libx264", 20, "slow", max_height=1080, max_bitrate="8M", audio="aac",
                      extra_video_args=("-tune", "film"))
    assert EncodeProfile.from_dict(p.to_dict()) == p
    for bad in ({"name": "p", "evil": 1}, {"name": "p", "crf": "20"}, {"crf": 20}, "x",
                {"name": "p", "extra_video_args": "-tune"}):
        with pytest.raises(InvalidInputError):
            EncodeProfile.from_dict(bad)
