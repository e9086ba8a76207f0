"""The database is down during a call: the call is answered and recorded, the caller hears that the request is
accepted and its number comes by SMS; once the database is back, the call, its recording and the request appear,
with the times of the call (arrival, answer, end), not of the replay: the ПП 416 answer-time report stays true."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from ivr_flows.prompts import catalogue_for
from journal_api.storage import tables as jt
from sip_audio import match_fraction
from sip_support import blob_path, caller, call_rows, recording_rows, stored_call


def test_a_call_during_a_database_outage_is_registered_when_the_database_returns(
        hotline_factory, org, building, container, speech, tmp_path, settings):
    down = hotline_factory(HOTLINE_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    heard = tmp_path / "heard.wav"
    called = datetime.now(timezone.utc)
    result = caller(down.uri, "--from", "sip:+79165556677@127.0.0.1", "--dtmf", "2@2,1@4.5,12#@7", "--play", speech,
                    "--record-heard", heard, "--timeout", 60)
    assert result["connected"] and result["ended_by"] == "remote", (result, down.logs())
    hung_up = datetime.now(timezone.utc)
    cat = catalogue_for(settings)
    assert match_fraction(heard, cat.path("ivr/accepted_number_by_sms")) >= 0.6  # a busy machine stretches audio
    assert match_fraction(heard, cat.path("ivr/your_request_number")) < 0.2  # no number without the journal
    assert call_rows(container.engine) == []  # nothing reached the journal yet
    spool = tmp_path / "spool"
    assert list((spool / "requests").glob("*.json")) and list((spool / "calls").glob("*.json"))
    down.stop()

    time.sleep(2.0)  # the replay comes clearly later than the call
    replayed = datetime.now(timezone.utc)
    hotline_factory()  # the database is back: the next worker start replays the spool
    (call,) = stored_call(container, kinds=("call", "description"), timeout=30)
    assert called <= call["arrived_at"] <= call["answered_at"] <= call["arrived_at"] + timedelta(seconds=1)
    assert call["answered_at"] < call["ended_at"] <= hung_up < replayed, (call, hung_up, replayed)
    assert call["ended_at"] - call["answered_at"] > timedelta(seconds=7)  # the caller keyed 12# at 7 s
    with container.engine.connect() as conn:
        req = conn.execute(sa.select(jt.requests).where(jt.requests.c.id == call["request_id"])).mappings().one()
    assert req["work_type"] == "water" and req["channel"] == "phone" and req["caller_phone"] == "+79165556677"
    recs = {r["kind"]: r for r in recording_rows(container.engine, call["id"])}
    assert recs["description"]["request_id"] == req["id"]
    assert match_fraction(blob_path(container, recs["description"]), speech) >= 0.8
    assert not list((spool / "requests").glob("*.json"))  # replayed once, then removed
