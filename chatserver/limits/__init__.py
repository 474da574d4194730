"""Limits on every public door, blocks of abusers, and where mail may go."""
