"""Execution: per-(subscription, ticker) queues, the executor and crash recovery."""
