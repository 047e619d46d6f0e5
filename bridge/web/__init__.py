"""HTTP: the webhook intake, health, and the admin API."""
