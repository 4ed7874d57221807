"""sentiflow: live sentiment and emotion analytics for streams of posts and reviews."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sentiflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
