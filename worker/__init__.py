"""The Temporal worker: the order workflow, its activities and the process that runs them."""
