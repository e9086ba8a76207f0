"""Plain domain objects for unit tests: no database, ids set by hand."""
from __future__ import annotations

from datetime import datetime, timezone

from journal_api.domain.registry import Building, Staff

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ORG = 1
OTHER_ORG = 2


def make_building(org_id: int = ORG, id_: int = 10, **kwargs) -> Building:
    fields = {"entrances": 4, "floors": 9, "apartments": 144, **kwargs}
    building = Building(org_id, f"B-{id_}", 100, "ул. Ленина", "10", **fields)
    building.id = id_
    return building


def make_staff(org_id: int = ORG, id_: int = 5, role: str = "technician", name: str = "Иванов Иван Петрович"):
    staff = Staff(org_id, name, role, f"+7912000{id_:04d}")
    staff.id = id_
    return staff
