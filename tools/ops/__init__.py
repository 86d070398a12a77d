"""Operator tools: look into an order, re-drive dead letters, reconcile MySQL with Temporal."""
