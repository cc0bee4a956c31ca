"""Converter plugins: one module per edge of the conversion graph."""
