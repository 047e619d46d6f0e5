"""Scheduled jobs: delayed signals, order polling and timeouts, flatten_at, retention, the daily summary."""

from bridge.jobs.schedule import Jobs

__all__ = ["Jobs"]
