"""What the consumer and the worker share to run, and know nothing of orders by:

kafka/       the options every Kafka client is built with, and the start-up checks
temporal/    the Temporal client: TLS, API key, payload encryption
telemetry/   logs, /metrics, /healthz, /readyz, tracing
tls.py       the checks of a configured CA file, certificate and key
process.py   a service's life: settings read once, SIGTERM as a stop, exit codes
exit.py      the end of a process that used the Temporal client
"""
