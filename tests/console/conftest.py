"""Fixtures of the console tests: a request to look at, a dispatcher who can sign in, a signed-in test client."""
from __future__ import annotations

import re

import pytest

from journal_api.domain.events import Actor
from journal_api.service.console_auth import ConsoleAuth
from journal_api.service.requests import NewRequest

DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
SYSTEM = Actor.system("test")
PASSWORD = "верный-пароль-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_request(container, org, building):
    def make(org_id=None, building_id=None, **fields):
        data = {"description": "Течёт труба в ванной", "work_type": "water",
                "building_id": building.id if building_id is None else building_id,
                "apartment": 12, "caller_phone": "+7 903 555-10-01", "channel": "phone", **fields}
        return container.requests.register(org_id or org.id, DISPATCHER, NewRequest(**data))

    return make


@pytest.fixture
def dispatcher(container, org):
    staff = container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Петрова Анна Сергеевна", "role": "dispatcher", "phone": "+7 903 111-22-33"})
    ConsoleAuth(container.uow, container.clock).set_password("demo", staff.id, PASSWORD, login="petrova")
    return staff


def csrf_of(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return CSRF.search(page).group(1)


def sign_in(client, org_code: str = "demo", login: str = "petrova", password: str = PASSWORD):
    token = csrf_of(client)
    return client.post("/login", data={"org": org_code, "login": login, "password": password, "csrf_token": token})


@pytest.fixture
def console(client, dispatcher):
    """A test client signed in as the dispatcher; ``console.csrf`` is the token for its forms."""
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    client.csrf = csrf_of(client, "/journal")
    return client
