"""Training and evaluation of sentiflow's own models: carried data, fitting, metrics."""
