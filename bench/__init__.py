"""The training benchmark: see bench/run.py."""
