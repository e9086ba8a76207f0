"""Storage: SQLAlchemy 2 tables, imperative mapping of the domain classes, Alembic migrations."""
