"""What the consumer and the worker share to run, and know nothing of orders by:

services.py  the startup kit: the connections both processes open alike, one bounded shutdown
settings.py  the settings both processes read
kafka/       the options every Kafka client is built with, and the start-up checks
temporal/    the Temporal client: TLS, API key, payload encryption
mysql.py     the database's URL, pool and TLS
crypto.py    AES-256-GCM under one named key: Temporal's payloads, MySQL's sealed secrets
telemetry/   logs, /metrics, /healthz, /readyz, tracing
tls.py       the checks of a configured CA file, certificate and key
process.py   a service's life: settings read once, SIGTERM as a stop, exit codes
exit.py      the end of a process that used the Temporal client
"""
