"""Results storage: SQLite by default, any SQLAlchemy URL with --db."""
