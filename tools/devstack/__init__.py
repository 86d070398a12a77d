"""The local stack: Kafka, MariaDB and Temporal as private processes under `.devstack/`."""
