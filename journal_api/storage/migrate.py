"""Run the Alembic migrations programmatically (no alembic.ini to find)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import make_engine

HERE = Path(__file__).parent / "migrations"

# Made by hand in the migrations, on PostgreSQL only (a trigram index and a partial index), so not in the metadata.
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_requests_description_trgm", "ix_requests_open_due"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate must neither drop the hand-made PostgreSQL indexes nor report them as drift."""
    return not (type_ == "index" and reflected and compare_to is None and name in POSTGRESQL_ONLY_INDEXES)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()
