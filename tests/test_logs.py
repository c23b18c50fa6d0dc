"""Logging: JSON lines off a TTY, stdlib loggers (pykka, peewee, ...) through the same pipeline, secrets masked."""

import io
import json
import logging

import structlog

from annexd import logs


def test_json_lines_with_bound_ids_and_masked_secrets():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    logs.configure("info", "auto", secrets=["sup3r-secret-key"], stream=stream)
    try:
        structlog.get_logger("annexd.test").bind(item_id=7).info("searched", url="http://x/api?apikey=sup3r-secret-key")
        logging.getLogger("pykka").warning("actor said sup3r-secret-key")
        logs.add_secrets(["later-added-token"])
        structlog.get_logger("annexd.test").info("token", value="later-added-token")
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["searched", "actor said ********", "token"]
    assert lines[0]["item_id"] == 7 and lines[0]["logger"] == "annexd.test" and "timestamp" in lines[0]
    assert "sup3r-secret-key" not in stream.getvalue() and "later-added-token" not in stream.getvalue()
