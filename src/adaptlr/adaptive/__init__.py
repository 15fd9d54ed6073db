"""Per-parameter adaptive methods and per-parameter learning-rate learners, one family per file."""
