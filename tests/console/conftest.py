"""Fixtures of the console tests: a request to look at, a dispatcher who can sign in."""
from __future__ import annotations

import pytest

from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest

DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")


@pytest.fixture
def make_request(container, org, building):
    def make(**fields):
        data = {"description": "Течёт труба в ванной", "work_type": "water", "building_id": building.id,
                "apartment": 12, "caller_phone": "+7 903 555-10-01", "channel": "phone", **fields}
        return container.requests.register(org.id, DISPATCHER, NewRequest(**data))

    return make
