"""Analytics on top of the rollups: cached queries with single-flight, urgent posts, keyword
trends, spike alerts, and synthetic data for benches."""
