"""A call nobody answered while the database is down is spooled and logged later, at the time it was refused,
once (ПП 416: it gets its callback task); the supervisor empties the journal's answers about busy calls."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sip_support import call_rows
from telephony.journal import Journal, is_db_down

REFUSED = {"sip_call_id": "busy-1@127.0.0.1", "from_number": "+79160000001", "to_number": "+74950000000",
           "status": "over_capacity"}


def test_a_missed_call_during_an_outage_is_spooled_and_logged_once_at_its_own_time(settings, container, org,
                                                                                 tmp_path):
    at = datetime.now(timezone.utc) - timedelta(minutes=7)
    down = Journal(replace(settings, database_url="postgresql+psycopg://postgres@127.0.0.1:9/nowhere"), tmp_path,
                   worker="w-down")
    try:
        with pytest.raises(Exception) as failed:
            down.missed({**REFUSED, "at": at.isoformat()})
    finally:
        down.close()
    assert is_db_down(failed.value)  # raised, not swallowed: the caller's submit() reports it
    spooled = list((tmp_path / "spool" / "missed").glob("*.json"))
    assert len(spooled) == 1 and call_rows(container.engine) == []

    up = Journal(settings, tmp_path, worker="w-up", container=container)
    assert up.replay() == 1
    assert up.replay() == 0  # the spool file is gone: nothing twice
    (row,) = call_rows(container.engine)
    assert (row["status"], row["from_number"], row["sip_call_id"]) == ("over_capacity", "+79160000001",
                                                                       "busy-1@127.0.0.1")
    assert row["arrived_at"] == at and row["ended_at"] == at  # the refusal's time, not the replay's
    assert row["callback_reason"] == "over_capacity" and row["callback_due_at"] == at + timedelta(minutes=10)
    assert not list((tmp_path / "spool" / "missed").glob("*.json"))


def test_a_spooled_missed_call_replayed_by_two_processes_is_logged_once(settings, container, org, tmp_path):
    from recordings import spool

    dirs = spool.spool_dirs(tmp_path)
    info = {**REFUSED, "at": datetime.now(timezone.utc).isoformat(), "call_uuid": "missed-twice"}
    spool.write_json(dirs["missed"] / "missed-twice.json", info)
    first = Journal(settings, tmp_path, worker="a", container=container)
    assert first._missed(info)["ok"]  # another process logged it, then died before removing the file
    assert first.replay() == 1
    assert len(call_rows(container.engine)) == 1


def test_the_supervisor_empties_the_journals_answers_about_busy_calls(settings, container, org, tmp_path):
    from telephony.settings import SipSettings
    from telephony.supervisor import Supervisor

    sup = Supervisor(replace(settings, data_dir=str(tmp_path)), SipSettings(), container=container)
    try:
        for n in range(3):
            sup.busy(f"busy-{n}@127.0.0.1|sip:+7916000000{n}@127.0.0.1|+74950000000")
        sup._journal.pool.shutdown(wait=True)  # the three journal calls are done
        assert sup.drain_results() == 3
        assert sup._journal.results.empty()
    finally:
        sup._journal = None  # the container is the fixture's
    rows = call_rows(container.engine)
    assert sorted(r["sip_call_id"] for r in rows) == [f"busy-{n}@127.0.0.1" for n in range(3)]
