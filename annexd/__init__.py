"""annexd: the media-pipeline daemon."""

__version__ = "0.1.0"
