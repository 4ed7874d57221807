"""Ingest: every source's posts are validated into `PostIn` and queued on the broker."""
