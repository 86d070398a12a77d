"""MySQL adapter of the ordering system: migrations, connection pool and repositories."""
