"""Links of the technician's and resident's pages: short, one request only, expiring and revocable."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_api.domain.errors import Forbidden, NotFound, ValidationError
from journal_api.service.links import LinkService
from journal_api.storage.tables_console import console_links


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def test_a_technician_link_is_a_short_path_that_opens_its_one_request(container, org, technician, make_request):
    request = make_request()
    path = container.links.issue(org.id, request.id, audience="technician", subject_id=technician.id,
                                 ttl=timedelta(days=3))
    assert path.startswith("/t/") and 1 <= len(path) - 3 <= 12
    grant = container.links.verify(path[3:], "technician")
    assert (grant.org_id, grant.request_id, grant.request_number, grant.subject_id) == \
        (org.id, request.id, request.number, technician.id)


def test_only_the_hash_of_the_token_is_stored(container, org, make_request):
    path = container.links.issue(org.id, make_request().id, audience="resident", ttl=timedelta(days=1))
    with container.engine.connect() as conn:
        stored = conn.execute(sa.select(console_links.c.token_hash)).scalar_one()
    assert path[3:] not in stored and len(stored) == 64


def test_a_link_for_the_resident_does_not_open_the_technicians_page(container, org, make_request):
    path = container.links.issue(org.id, make_request().id, audience="resident", ttl=timedelta(days=1))
    assert path.startswith("/r/")
    with pytest.raises(NotFound):
        container.links.verify(path, "technician")
    assert container.links.verify(path, "resident").audience == "resident"


def test_an_unknown_token_is_not_found(container):
    with pytest.raises(NotFound):
        container.links.verify("AAAAAAAAAAAA", "technician")


def test_a_link_expires_after_its_ttl(container, org, make_request):
    clock = Clock()
    links = LinkService(container.uow, clock)
    path = links.issue(org.id, make_request().id, audience="technician", ttl=timedelta(hours=2))
    clock.now += timedelta(hours=1, minutes=59)
    links.verify(path, "technician")
    clock.now += timedelta(minutes=1)
    with pytest.raises(Forbidden):
        links.verify(path, "technician")


def test_a_revoked_link_no_longer_opens_and_revoking_twice_changes_nothing(container, org, make_request):
    request = make_request()
    path = container.links.issue(org.id, request.id, audience="technician", ttl=timedelta(days=1))
    other = container.links.issue(org.id, request.id, audience="resident", ttl=timedelta(days=1))
    assert container.links.revoke(path) == 1
    assert container.links.revoke(path) == 0
    with pytest.raises(Forbidden):
        container.links.verify(path, "technician")
    assert container.links.verify(other, "resident").request_id == request.id


def test_revoking_by_id_and_all_of_a_requests_links(container, org, make_request):
    request = make_request()
    a = container.links.issue(org.id, request.id, audience="technician", ttl=timedelta(days=1))
    b = container.links.issue(org.id, request.id, audience="technician", ttl=timedelta(days=1))
    link_id = container.links.verify(a, "technician").link_id
    assert container.links.revoke(link_id) == 1
    assert container.links.revoke_request(org.id, request.id, audience="technician") == 1
    with pytest.raises(Forbidden):
        container.links.verify(b, "technician")
    assert [bool(row["revoked_at"]) for row in container.links.of_request(org.id, request.id)] == [True, True]


def test_a_link_to_another_organisations_request_is_refused(container, org, other_org, make_request):
    with pytest.raises(NotFound):
        container.links.issue(other_org.id, make_request().id, audience="resident", ttl=timedelta(days=1))


def test_a_bad_audience_or_ttl_is_refused(container, org, make_request):
    request = make_request()
    with pytest.raises(ValidationError):
        container.links.issue(org.id, request.id, audience="manager", ttl=timedelta(days=1))
    with pytest.raises(ValidationError):
        container.links.issue(org.id, request.id, audience="resident", ttl=timedelta(days=365))
