"""Connecting to Temporal the same way in every process: TLS, API key, payload encryption."""
