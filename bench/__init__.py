"""`make bench`: the pipeline's throughput and latency against Temporal's ceiling, in one run."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout the bench runs from: its processes' working directory and the stack's home."""
