"""The Kafka consumer: turns order events into MySQL rows and Temporal workflows."""
