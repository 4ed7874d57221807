"""Connectors: plug-in sources (Reddit, RSS/Atom and JSON feeds, a simulator) that share one
contract, run inside workers, and feed posts through the one ingest path."""

from sentiflow.ingest.connectors.base import Connector, Page
from sentiflow.ingest.connectors.registry import build, kinds, parse_spec

__all__ = ["Connector", "Page", "build", "kinds", "parse_spec"]
