"""trade-bridge: a self-hosted webhook-to-broker bridge with TradersPost-compatible semantics."""

__version__ = "0.1.0"
