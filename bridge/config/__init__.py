"""Configuration: schema, loading with file:line errors, secrets."""
