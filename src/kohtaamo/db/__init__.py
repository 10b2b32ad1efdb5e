"""Storage: SQLAlchemy 2 (async) on SQLite (WAL) or PostgreSQL, migrated by Alembic."""
