"""What the processes share to be watched: logs, metrics, health and readiness, an orderly exit."""
