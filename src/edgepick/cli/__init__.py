"""The command line, one module per command group; `main` holds the entry point."""
