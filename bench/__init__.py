"""`make bench`: the pipeline's throughput and latency against Temporal's ceiling, in one run."""
