"""SQLite persistence: one writing connection driven from the event loop, group commit, explicit transactions."""
