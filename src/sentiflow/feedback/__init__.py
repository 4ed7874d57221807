"""Humans in the loop: API keys, label corrections, the review queue, dataset snapshots and
the retraining that promotes a model only when it scores better."""
