"""Fixtures of plain domain objects for unit tests (see domain_objects.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from domain_objects import NOW, ORG, make_building, make_staff

from journal_api.domain.events import Actor
from journal_api.domain.request import Deadlines, Request


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
