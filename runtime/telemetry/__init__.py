"""What the processes are watched through: logs, metrics, health and readiness, tracing."""
