"""Into the journal: a transcript is stored with its words and fills the request's EMPTY fields, each an event of
the channel "asr"; what the caller keyed in or a dispatcher corrected is never overwritten; bad audio leaves a clear
status on the request; nothing waits forever. Real PostgreSQL, Redis and rq; real whisper on synthesised speech."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue

from journal_api.domain.events import Actor
from journal_api.storage import tables_calls as tc
from journal_api.storage import tables_transcripts as tt
from transcription.pipeline import (facts_of, low_queue_name, on_recording_stored, queue_name, sweep,
                                    transcribe_recording)
from transcription.extract import Registry

from asr_support import russian_wav, silence, write_wav
from journal_support import T0, answered_call, stored_event, work

GAS = "здравствуйте у меня на кухне пахнет газом улица ленина дом десять корпус два квартира пять"


PLAIN_PATH = ["greeting", "main_menu", "category_menu", "cat_other", "identify", "ask_apartment",
              "record_description", "register"]


def _end(c, call_id, digits=(), path=PLAIN_PATH):
    """The call ends: the telephony journal writes the IVR path and the digits (before storing the recordings)."""
    c.calls.ended(call_id, at=T0, status="answered", ivr_path=list(path), digits=list(digits))


def _result(text):
    words = [{"w": w, "start": i * 0.5, "end": i * 0.5 + 0.4, "conf": 0.9} for i, w in enumerate(text.split())]
    return {"text": text, "words": words, "engine": "whisper", "model": "whisper-base", "language": "ru",
            "duration_s": len(words) * 0.5}


def _request(c, org_id, number):
    return c.requests.get(org_id, number, Actor.system("test"))


def _asr_fields(c, org_id, number):
    return sorted(h.field for h in c.requests.history(org_id, number, Actor.system("test"))
                  if h.channel == "asr" and h.kind == "field")


def _finish(c, org_id, call_id, text):
    svc = c.transcripts
    tid = svc.open(org_id=org_id, kind="description", status="live", call_id=call_id)
    return tid, svc.complete(tid, _result(text), facts_of(text, Registry.from_database(c.engine, org_id)))


DISPATCHER = Actor(kind="staff", role="dispatcher", id=None, name="Диспетчер")


def test_a_transcript_fills_the_empty_fields_of_a_phone_request_each_as_an_asr_event(container, org, building):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id)
    _end(container, call_id)  # nothing keyed: "other" is "not chosen"
    tid, filled = _finish(container, org.id, call_id, GAS)
    req = _request(container, org.id, reg["number"])
    assert (req.work_type, req.urgency, req.building.code, req.apartment) == ("gas", "emergency", "B-1", 5)
    assert req.description == GAS
    assert sorted(filled) == ["apartment", "building", "description", "urgency", "work_type"]
    assert _asr_fields(container, org.id, reg["number"]) == ["apartment", "building", "description", "urgency",
                                                             "work_type"]
    row = container.transcripts.get(tid)
    assert row.status == "done" and row.request_id == req.id and row.words[0] == {
        "w": "здравствуйте", "start": 0.0, "end": 0.4, "conf": 0.9}
    assert row.facts["work_type"] == {"value": "gas", "confidence": pytest.approx(0.97)}
    assert sorted(row.facts["filled"]) == sorted(filled)


def test_what_the_caller_keyed_in_is_never_overwritten_and_urgency_is_only_raised(container, org, building):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id, work_type="water", building_id=building.id, apartment=7)
    _, filled = _finish(container, org.id, call_id, GAS)
    req = _request(container, org.id, reg["number"])
    assert (req.work_type, req.apartment, req.building.code) == ("water", 7, "B-1")
    assert req.urgency == "emergency"  # a gas smell raises it: the caller did not say "not urgent"
    assert sorted(filled) == ["description", "urgency"]


def test_a_dispatchers_correction_is_never_overwritten(container, org, building):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id, emergency=True)
    _end(container, call_id)
    container.requests.update(org.id, reg["number"], DISPATCHER, "dispatcher",
                              {"urgency": "normal", "description": "Проверка плиты по графику"})
    _finish(container, org.id, call_id, GAS)
    req = _request(container, org.id, reg["number"])
    assert (req.urgency, req.description) == ("normal", "Проверка плиты по графику")
    assert req.work_type == "gas"  # still empty before: filled
    assert "urgency" not in _asr_fields(container, org.id, reg["number"])


def test_filling_again_changes_nothing(container, org, building):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id)
    tid, _ = _finish(container, org.id, call_id, GAS)
    before = len(container.requests.history(org.id, reg["number"], Actor.system("test")))
    assert container.transcripts.fill_request(tid) == []
    assert len(container.requests.history(org.id, reg["number"], Actor.system("test"))) == before


def test_low_confidence_facts_stay_suggestions(container, org, building):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id)
    _finish(container, org.id, call_id, "дом десять квартира пять что-то сломалось")  # no street: a guess only
    req = _request(container, org.id, reg["number"])
    assert req.building is None and req.apartment is None and req.work_type == "other"


def test_a_live_transcript_done_before_the_request_exists_fills_it_when_the_recording_is_stored(
        container, org, building, tmp_path):
    call_id = answered_call(container, org.id)
    tid, filled = _finish(container, org.id, call_id, GAS)
    assert filled == []
    reg = container.calls.register_from_call(call_id)
    _end(container, call_id)
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description",
                                              path=write_wav(tmp_path / "d.wav", silence(1.0)))
    on_recording_stored(container, stored_event(container, rec_id))
    req = _request(container, org.id, reg["number"])
    assert req.work_type == "gas" and req.building.code == "B-1"
    row = container.transcripts.get(tid)
    assert (row.recording_id, row.request_id, row.status) == (rec_id, req.id, "done")


def test_a_stored_recording_is_transcribed_by_the_rq_job_and_fills_the_request(container, org, building, tmp_path,
                                                                             rq_queues, whisper):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id)
    _end(container, call_id, digits=["2"])  # "plain request" keyed, the category menu timed out
    wav = russian_wav(tmp_path / "desc.wav", "Здравствуйте. У меня на кухне пахнет газом. Улица Ленина, дом "
                                             "десять, корпус два, квартира пять.")
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description", path=wav)
    on_recording_stored(container, stored_event(container, rec_id))
    on_recording_stored(container, stored_event(container, rec_id))  # delivered twice: one job
    assert Queue(queue_name(container), connection=Redis.from_url(container.settings.redis_url)).count == 1
    assert container.transcripts.find(recording_id=rec_id).status == "pending"
    work(rq_queues)
    row = container.transcripts.find(recording_id=rec_id)
    assert row.status == "done" and "газом" in row.text.lower() and row.words
    req = _request(container, org.id, reg["number"])
    assert (req.work_type, req.urgency, req.building.code, req.apartment) == ("gas", "emergency", "B-1", 5)


def test_silent_audio_leaves_a_clear_status_on_the_request(container, org, building, tmp_path, whisper):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id)
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description",
                                              path=write_wav(tmp_path / "q.wav", silence(3.0)))
    assert transcribe_recording(container, rec_id) == "failed"
    row = container.transcripts.find(recording_id=rec_id)
    assert row.error == "в записи тишина"  # the bare reason: the console puts the status before it
    notes = [h.new_value for h in container.requests.history(org.id, reg["number"], Actor.system("test"))
             if h.kind == "comment" and h.channel == "asr"]
    assert notes == ["не удалось распознать: в записи тишина"]
    assert transcribe_recording(container, rec_id) == "failed"  # idempotent: no second note
    assert len([h for h in container.requests.history(org.id, reg["number"], Actor.system("test"))
                if h.kind == "comment"]) == 1


def test_a_transcript_pending_too_long_without_audio_is_failed_not_left_waiting(container, org, tsettings):
    call_id = answered_call(container, org.id)
    reg = container.calls.register_from_call(call_id)
    tid = container.transcripts.open(org_id=org.id, kind="description", status="live", call_id=call_id,
                                     request_id=container.transcripts.request_of_call(call_id))
    with container.engine.begin() as conn:
        conn.execute(sa.update(tt.transcripts).values(updated_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    assert sweep(container, dataclasses.replace(tsettings, pending_timeout_min=10)) == 1
    row = container.transcripts.get(tid)
    assert (row.status, row.error) == ("failed", "запись не поступила")
    assert sweep(container, tsettings) == 0
    assert [h.new_value for h in container.requests.history(org.id, reg["number"], Actor.system("test"))
            if h.kind == "comment"] == ["не удалось распознать: запись не поступила"]


def test_a_whole_call_recording_is_transcribed_automatically_on_the_low_priority_queue_after_descriptions(
        container, org, building, tmp_path, rq_queues, whisper):
    call_id = answered_call(container, org.id)
    container.calls.register_from_call(call_id)
    _end(container, call_id)
    whole = russian_wav(tmp_path / "call.wav", "Алло, здравствуйте. У нас не работает лифт.")
    call_rec = container.calls.attach_recording(call_id=call_id, kind="call", path=whole)
    on_recording_stored(container, stored_event(container, call_rec))
    desc = container.calls.attach_recording(call_id=call_id, kind="description",
                                            path=russian_wav(tmp_path / "d.wav", "Не работает лифт."))
    on_recording_stored(container, stored_event(container, desc))
    conn = Redis.from_url(container.settings.redis_url)
    assert Queue(low_queue_name(container), connection=conn).count == 1  # the whole call waits behind
    assert Queue(queue_name(container), connection=conn).count == 1  # the description
    assert container.transcripts.find(recording_id=call_rec).status == "pending"
    work(rq_queues)
    whole_row, desc_row = container.transcripts.find(recording_id=call_rec), container.transcripts.find(
        recording_id=desc)
    assert (whole_row.kind, whole_row.status) == ("call", "done") and "лифт" in whole_row.text.lower()
    assert desc_row.status == "done" and desc_row.finished_at <= whole_row.finished_at  # description first


def test_a_whole_call_is_transcribed_on_demand_when_kinds_leave_it_out(container, org, building, tmp_path,
                                                                      settings, monkeypatch):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("HOTLINE_TRANSCRIPTION_KINDS", "description,voicemail")
    call_id = answered_call(container, org.id)
    container.calls.register_from_call(call_id)
    wav = russian_wav(tmp_path / "call.wav", "Алло, здравствуйте. У нас не работает лифт.")
    rec_id = container.calls.attach_recording(call_id=call_id, kind="call", path=wav)
    on_recording_stored(container, stored_event(container, rec_id))
    assert container.transcripts.find(recording_id=rec_id) is None  # left out by [transcription] kinds
    with container.engine.begin() as conn:
        conn.execute(sa.update(tc.recordings).values(created_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    assert sweep(container) == 0  # and the sweeper leaves it out too
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=settings.database_url, HOTLINE_REDIS_URL=settings.redis_url,
               HOTLINE_DATA_DIR=settings.data_dir, HOTLINE_QUEUE_NAME=settings.queue_name)
    out = subprocess.run([str(Path(sys.executable).parent / "hotline"), "transcribe", "--recording", str(rec_id),
                          "--engine", "whisper", "--json"], capture_output=True, text=True, env=env, check=True)
    data = json.loads(out.stdout)
    assert data["status"] == "done" and "лифт" in data["text"].lower()
    row = container.transcripts.find(recording_id=rec_id)
    assert (row.kind, row.status, row.call_id) == ("call", "done", call_id)


def test_a_transcript_of_a_call_that_does_not_exist_is_refused_with_a_clear_error(container, org):
    from journal_api.domain.errors import NotFound

    with pytest.raises(NotFound, match="call 987654"):
        container.transcripts.open(org_id=org.id, kind="voicemail", status="live", call_id=987654)
    assert container.transcripts.find(call_id=987654, kind="voicemail") is None
