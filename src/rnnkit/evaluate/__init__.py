"""rnnkit.evaluate."""
