"""One module per benchmark contender; each runs as its own process (see run.py)."""
