"""Plain domain objects for unit tests: no database, ids set by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from journal_api.domain.events import Actor
from journal_api.domain.registry import Building, Staff
from journal_api.domain.request import Deadlines, Request

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


@pytest.fixture
def building():
    return make_building()


@pytest.fixture
def technician():
    return make_staff()


@pytest.fixture
def dispatcher_actor():
    return Actor(kind="staff", role="dispatcher", id=1, name="Петрова А.С.")


@pytest.fixture
def make_request(building):
    """A registered request (id 42, number 7); emergency requests get 30 min / 3 days deadlines."""

    def make(urgency: str = "emergency", **kwargs) -> Request:
        fields = {"building": building, "apartment": 12, "caller_phone": "+79120001122", **kwargs}
        request = Request(org_id=ORG, number=7, channel="phone", description="Течёт труба", work_type="water",
                          urgency=urgency, registered_at=NOW, **fields)
        request.id = 42
        deadlines = Deadlines(NOW + timedelta(minutes=30), NOW + timedelta(days=3), "federal.emergency",
                              "ПП 416 п.13", "ПП 416 п.13") if urgency == "emergency" else Deadlines()
        request.registered(Actor.system("ivr"), deadlines)
        return request

    return make
