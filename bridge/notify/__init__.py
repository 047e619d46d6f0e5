"""Operator notifications: events fanned out to webhooks, Discord, Telegram and ntfy without delaying trading."""
