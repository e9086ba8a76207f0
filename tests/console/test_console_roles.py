"""Roles: the analytics and the bulk exports of the journal are the managers' and admins'; a dispatcher gets 403
for them and does not see their links, while his own work (board, journal, requests, Monitor, paper journal) stays
open to him."""
from __future__ import annotations

import pytest

MANAGERS_ONLY = ("/analytics", "/analytics?from=2026-01-01&to=2026-01-31", "/journal/export.csv",
                 "/journal/export.xlsx")


@pytest.mark.parametrize("path", MANAGERS_ONLY)
def test_a_dispatcher_is_refused_the_managers_pages(console, path):
    response = console.get(path)
    assert response.status_code == 403 and "Недостаточно прав" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", MANAGERS_ONLY)
def test_a_manager_opens_the_managers_pages(manager_console, path):
    assert manager_console.get(path).status_code == 200


def test_a_dispatcher_keeps_his_own_pages(console, make_request):
    r = make_request()
    for path in ("/board", "/journal", "/monitor", "/journal/print", f"/requests/{r.number}", "/requests/new",
                 "/board/stream?once=1"):
        assert console.get(path).status_code == 200, path


def test_the_dispatcher_is_not_shown_links_he_may_not_follow(console, manager_console):
    mine, his = console.get("/journal").get_data(as_text=True), manager_console.get("/journal").get_data(as_text=True)
    assert "/analytics" not in mine and "export.xlsx" not in mine and "export.csv" not in mine
    assert "/analytics" in his and "export.xlsx" in his and "export.csv" in his
