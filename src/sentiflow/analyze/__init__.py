"""Analyzers: the `Analyzer` protocol (`base`), its backends by name (`registry`), and the ways
to run one off the event loop (`pool` for a thread or processes, `channel` for one process).
"""
