"""The tools beside the system, each run as `python -m tools.<name>`:

ops/       the operator's commands: show an order, re-drive dead letters, reconcile, cancel
devstack/  the local stack (Kafka, MariaDB, Temporal as processes) and `make run`'s demo
bench/     `make bench`: what an order costs, against the floor and the seed's design
"""
