"""Measurement: what runs inside the isolated worker process, and the statistics it reports."""
