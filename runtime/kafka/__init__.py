"""Connecting to Kafka the same way in every process: TLS, SASL PLAIN or SCRAM."""
