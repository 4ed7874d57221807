"""Rank a feed of posts by a sentiment-aware strategy under a deadline (see docs/ranking.md):
strategies score items from their analyses and from background-computed trend signals.
"""
