"""Signals: parsing webhook bodies and deciding what they mean for a position."""
