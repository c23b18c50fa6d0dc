"""Encoding: the agent (``python -m annexd.encoder.agent``), the daemon-side hub, their wire protocol, encode
profiles and the ffmpeg runner. Kept import-light: ``annexd.config`` imports ``annexd.encoder.profiles``."""
