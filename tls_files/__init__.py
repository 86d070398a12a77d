"""Checks of the PEM files a process is configured with, shared by every connection's settings."""
