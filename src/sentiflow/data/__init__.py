"""Data carried with the package: the demo stream and the trained model files."""
