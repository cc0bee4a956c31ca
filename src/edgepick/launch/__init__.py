"""Launchers run the measurement worker for one candidate in isolation."""
