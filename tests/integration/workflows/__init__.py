"""Workflow tests on a real Temporal dev server, with in-memory fake activities."""
