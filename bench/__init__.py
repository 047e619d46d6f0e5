"""Benchmark harness: the daemon against reference apps under the same load (`python -m bench`)."""
