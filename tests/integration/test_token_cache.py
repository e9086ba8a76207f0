"""The cache of authenticated API tokens, on real PostgreSQL: a checked token is trusted for token_cache_seconds
without a query; a staff change in this process is seen at once; another process sees it when its entry expires."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from journal_api.domain.errors import Forbidden
from journal_api.domain.events import Actor
from journal_api.service.tokens import TokenService

SYSTEM = Actor.system("test")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def queries(container):
    """The statements sent to the database while the test runs."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(container.engine, "before_cursor_execute", record)
    yield sent
    event.remove(container.engine, "before_cursor_execute", record)


@pytest.fixture
def secret(container, org, technician):
    return container.tokens.create(org.code, "technician", technician.id)


def test_a_second_call_with_the_same_token_does_not_query_until_the_cache_time_ends(container, secret, queries):
    clock = FakeClock()
    tokens = TokenService(container.uow, cache_seconds=10, monotonic=clock)
    first = tokens.authenticate(secret)
    assert len(queries) == 1
    clock.now += 9.9
    assert tokens.authenticate(secret) == first
    assert len(queries) == 1
    clock.now += 0.2
    assert tokens.authenticate(secret) == first
    assert len(queries) == 2


def test_with_a_cache_time_of_zero_every_call_checks_the_token(container, secret, queries):
    tokens = TokenService(container.uow, cache_seconds=0)
    tokens.authenticate(secret)
    tokens.authenticate(secret)
    assert len(queries) == 2


def test_a_refused_token_is_not_cached(container, queries):
    for _ in range(2):
        with pytest.raises(Forbidden):
            container.tokens.authenticate("hl_not-a-token")
    assert len(queries) == 2


def test_a_disabled_staff_members_token_is_refused_at_once_in_the_same_process(container, org, technician,
                                                                                secret):
    assert container.tokens.authenticate(secret).staff_id == technician.id
    container.registry.update_staff(org.id, SYSTEM, technician.id, {"active": False})
    with pytest.raises(Forbidden, match="disabled"):
        container.tokens.authenticate(secret)


def test_another_process_trusts_its_cached_token_at_most_the_cache_time(container, org, technician, secret):
    clock = FakeClock()
    elsewhere = TokenService(container.uow, cache_seconds=10, monotonic=clock)  # another process's cache
    elsewhere.authenticate(secret)
    container.registry.update_staff(org.id, SYSTEM, technician.id, {"active": False})
    assert elsewhere.authenticate(secret).staff_id == technician.id
    clock.now += 10
    with pytest.raises(Forbidden, match="disabled"):
        elsewhere.authenticate(secret)


def test_a_role_change_in_this_process_makes_the_token_be_checked_again(container, org, technician, secret,
                                                                        queries):
    container.tokens.authenticate(secret)
    container.tokens.authenticate(secret)
    assert len(queries) == 1
    container.registry.update_staff(org.id, SYSTEM, technician.id, {"role": "dispatcher"})
    before = len(queries)
    container.tokens.authenticate(secret)
    assert len(queries) == before + 1
