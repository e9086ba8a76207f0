"""GET/PUT/DELETE /escalation: the organisation's ladder and its overrides of whole tracks."""
from __future__ import annotations

import sqlalchemy as sa

from journal_api.storage import tables as t

QUICK = {"statuses": ["assigned"], "until": "accepted",
         "emergency": [{"at": "assigned+5m", "remind": "assignee"}], "normal": []}


def _rows(container, table, **where):
    with container.engine.connect() as conn:
        query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        return conn.execute(query).all()


def _tracks(response) -> dict:
    return {item["track"]: item for item in response.get_json()["tracks"]}


def test_the_default_ladder_lists_every_track_none_overridden(client, org, make_token):
    response = client.get("/api/v1/escalation", headers=make_token(role="dispatcher"))
    assert response.status_code == 200
    tracks = _tracks(response)
    assert list(tracks) == ["acceptance", "unassigned", "localisation", "repair"]
    assert not any(item["overridden"] for item in tracks.values())
    acceptance = tracks["acceptance"]["body"]
    assert acceptance["until"] == "accepted"
    assert acceptance["emergency"][0] == {"at": "assigned+10m", "remind": "assignee",
                                          "template": "reminder_acceptance"}
    assert {"every": "10m", "from": "deadline", "remind": "assignee", "template": "reminder_localisation"} in \
        tracks["localisation"]["body"]["emergency"]


def test_a_manager_overrides_a_track_for_his_organisation_only_and_it_is_audited(client, container, org, other_org,
                                                                                 make_token):
    response = client.put("/api/v1/escalation/acceptance", json=QUICK, headers=make_token(role="manager"))
    assert response.status_code == 200
    tracks = _tracks(response)
    assert tracks["acceptance"]["overridden"] is True and tracks["repair"]["overridden"] is False
    assert tracks["acceptance"]["body"]["emergency"] == [{"at": "assigned+5m", "remind": "assignee",
                                                          "template": "reminder_acceptance"}]
    theirs = _tracks(client.get("/api/v1/escalation", headers=make_token("other", role="manager")))
    assert theirs["acceptance"]["overridden"] is False
    audit = _rows(container, t.audit_log, entity="escalation_override", action="create")
    assert [(a.org_id, a.changes["track"]) for a in audit] == [(org.id, "acceptance")]


def test_bad_ladder_data_is_refused_naming_the_entry_and_nothing_is_saved(client, container, org, make_token):
    bad = {**QUICK, "emergency": [{"at": "assigned+5 minutes", "remind": "assignee"}]}
    response = client.put("/api/v1/escalation/acceptance", json=bad, headers=make_token(role="admin"))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_escalation_ladder"
    assert "tracks.acceptance.emergency[0].at" in error["message"]
    assert _rows(container, t.escalation_overrides) == [] and _rows(container, t.audit_log,
                                                                     entity="escalation_override") == []


def test_an_unknown_track_is_refused(client, org, make_token):
    response = client.put("/api/v1/escalation/lunch", json=QUICK, headers=make_token(role="admin"))
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "track"


def test_a_dispatcher_cannot_change_the_ladder(client, container, org, make_token):
    response = client.put("/api/v1/escalation/acceptance", json=QUICK, headers=make_token(role="dispatcher"))
    assert response.status_code == 403
    assert _rows(container, t.escalation_overrides) == []


def test_deleting_an_override_returns_the_track_to_the_default(client, container, org, make_token):
    headers = make_token(role="admin")
    client.put("/api/v1/escalation/acceptance", json=QUICK, headers=headers)
    assert client.put("/api/v1/escalation/acceptance", json=QUICK, headers=headers).status_code == 200
    assert len(_rows(container, t.escalation_overrides)) == 1
    assert client.delete("/api/v1/escalation/acceptance", headers=headers).status_code == 204
    acceptance = _tracks(client.get("/api/v1/escalation", headers=headers))["acceptance"]
    assert acceptance["overridden"] is False and len(acceptance["body"]["emergency"]) == 3
    assert _rows(container, t.audit_log, entity="escalation_override", action="delete") != []
    assert client.delete("/api/v1/escalation/acceptance", headers=headers).status_code == 404
