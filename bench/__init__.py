"""The benchmark harness of issue 6: see bench/run.py."""
