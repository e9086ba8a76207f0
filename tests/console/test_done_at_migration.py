"""Migration 0016 fills ``requests.done_at`` from the history: the latest status entry to 'done' of each request that
is done or closed now; NULL without one (or when the request was reopened), and forgets the kept analytics days."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.storage import tables as t
from journal_api.storage.db import make_engine
from journal_api.storage.migrate import downgrade, upgrade
from journal_api.storage.tables_console import console_analytics_days as kept

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hotline.db'}"
    return request.getfixturevalue("fresh_pg_url")


def _request(conn, number: int, status: str, steps: list[tuple[str, str, timedelta]]) -> int:
    """A request in ``status`` with the status entries ``steps`` (old, new, after T0) in its history."""
    request_id = conn.execute(sa.insert(t.requests).values(
        org_id=1, number=number, channel="phone", description="Течёт труба", work_type="water", urgency="normal",
        status=status, registered_at=T0, updated_at=T0 + timedelta(days=5), version=1,
        closed_at=T0 + timedelta(days=4) if status == "closed" else None).returning(t.requests.c.id)).scalar_one()
    for old, new, after in steps:
        conn.execute(sa.insert(t.request_events).values(
            org_id=1, request_id=request_id, at=T0 + after, actor_kind="staff", actor_role="technician",
            actor_name="Иванов И.П.", channel="sms", kind="status", field="status", old_value=old, new_value=new))
    conn.execute(sa.insert(t.request_events).values(  # a later line that is not a status: never the done time
        org_id=1, request_id=request_id, at=T0 + timedelta(days=5), actor_kind="resident", actor_role="resident",
        actor_name="Житель", channel="web", kind="rating", field="rating", new_value="done"))
    return request_id


def test_the_upgrade_fills_done_at_from_the_latest_done_entry_of_done_and_closed_requests(url):
    upgrade(url, "0015")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(t.organisations).values(id=1, code="demo", name="УК Демо",
                                                           timezone="Europe/Moscow"))
            ids = {
                "done": _request(conn, 1, "done", [("accepted", "done", timedelta(hours=2))]),
                "redone_closed": _request(conn, 2, "closed", [
                    ("accepted", "done", timedelta(hours=1)), ("done", "accepted", timedelta(hours=3)),
                    ("accepted", "done", timedelta(hours=6)), ("done", "closed", timedelta(days=1))]),
                "closed_never_done": _request(conn, 3, "closed", [("impossible", "closed", timedelta(hours=4))]),
                "reopened": _request(conn, 4, "accepted", [
                    ("accepted", "done", timedelta(hours=1)), ("done", "accepted", timedelta(hours=2))]),
            }
            conn.execute(sa.insert(kept).values(org_id=1, span="day", day=date(2026, 3, 2), payload={"day": {}},
                                                computed_at=T0))
        upgrade(url, "0016")
        with engine.connect() as conn:
            done = dict(conn.execute(sa.select(t.requests.c.id, t.requests.c.done_at)).all())
            assert conn.execute(sa.select(sa.func.count()).select_from(kept)).scalar_one() == 0
    finally:
        engine.dispose()
    assert done[ids["done"]] == T0 + timedelta(hours=2)
    assert done[ids["redone_closed"]] == T0 + timedelta(hours=6)
    assert done[ids["closed_never_done"]] is None
    assert done[ids["reopened"]] is None


def test_the_migration_goes_down_and_up_again(url):
    upgrade(url, "0016")
    downgrade(url, "0015")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert "done_at" not in {c["name"] for c in sa.inspect(conn).get_columns("requests")}
    finally:
        engine.dispose()
    upgrade(url)
