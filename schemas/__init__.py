"""The system's contract: wire events, order states and Temporal names, free of any I/O."""
