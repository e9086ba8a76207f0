"""A benchmark's own PostgreSQL database: created fresh and migrated, dropped afterwards."""
from __future__ import annotations

import psycopg

from journal_api.storage.migrate import upgrade


def _admin(pg_admin_url: str) -> str:
    return pg_admin_url.replace("postgresql+psycopg://", "postgresql://")


def recreate(pg_admin_url: str, name: str) -> str:
    """Drop ``name`` if it exists, create it, migrate it to head; returns its SQLAlchemy URL."""
    with psycopg.connect(_admin(pg_admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_admin_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def drop(pg_admin_url: str, name: str) -> None:
    with psycopg.connect(_admin(pg_admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
