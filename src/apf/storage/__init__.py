"""Versioned object storage: one interface, several backends chosen by name."""
