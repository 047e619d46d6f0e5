"""Fakes of brokers' public HTTP APIs, served on loopback: we test our adapters against the venue's shapes."""
