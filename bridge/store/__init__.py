"""SQLite persistence: one connection, one writer thread, explicit transactions."""
