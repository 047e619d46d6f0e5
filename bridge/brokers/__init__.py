"""Broker plugins: the protocol, the registry and the built-in paper broker."""
