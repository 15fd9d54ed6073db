"""Learning-rate-free and learned global step sizes, one family per file."""
