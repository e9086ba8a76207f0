"""Inbound SMS commands change requests through the journal (channel "sms"); anything wrong gets a short reply,
is journaled in inbound_messages, and changes nothing."""
from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from journal_api.storage import tables as t
from journal_api.storage.tables_messages import inbound_messages, sms_opt_outs
from notifier.inbound import InboundService

from sms_support import DISPATCHER, RESIDENT_PHONE, SYSTEM, CrashingOnce, all_messages, pump

TECH_PHONE = "+79123456789"
_ids = itertools.count(1)


@pytest.fixture
def inbound(notifier):
    return InboundService(notifier)


def sms(inbound, sender, body):
    return inbound.receive(provider="kannel", provider_message_id=f"mo-{next(_ids)}", sender=sender, body=body)


def _status(container, org, number):
    return container.requests.get(org.id, number, DISPATCHER).status


def _reply(container, outcome):
    return all_messages(container, id=outcome.reply_ids[0])[0]


def test_a_technician_accepts_postpones_and_finishes_by_sms(container, org, notifier, inbound, assigned):
    n = assigned.number
    out = sms(inbound, "8 (912) 345-67-89", f"{n} принято")
    assert out.outcome == "applied" and _status(container, org, n) == "accepted"
    assert "принята в работу" in _reply(container, out).body
    out = sms(inbound, TECH_PHONE, f"№{n} отложено 28.11 15:00 нет запчасти")
    request = container.requests.get(org.id, n, DISPATCHER)
    assert request.status == "postponed" and request.status_reason == "нет запчасти"
    out = sms(inbound, TECH_PHONE, f"{n} ГОТОВО заменил смеситель")
    request = container.requests.get(org.id, n, DISPATCHER)
    assert (request.status, request.report) == ("done", "заменил смеситель")
    history = container.requests.history(org.id, n, DISPATCHER)
    assert {e.channel for e in history if e.kind == "status" and e.actor_role == "technician"} == {"sms"}


def test_short_forms_work(container, org, inbound, assigned):
    sms(inbound, TECH_PHONE, f"{assigned.number} 1")
    assert _status(container, org, assigned.number) == "accepted"
    sms(inbound, TECH_PHONE, f"{assigned.number} 4")
    assert _status(container, org, assigned.number) == "done"


def test_impossible_needs_a_reason(container, org, inbound, assigned):
    out = sms(inbound, TECH_PHONE, f"{assigned.number} невозможно")
    assert out.outcome == "refused" and _status(container, org, assigned.number) == "assigned"
    assert "причину" in _reply(container, out).body


def test_mine_lists_his_open_requests(container, inbound, assigned):
    out = sms(inbound, TECH_PHONE, "Мои")
    assert f"№{assigned.number}" in _reply(container, out).body


@pytest.mark.parametrize("body,template", [
    ("99999 принято", "reply_unknown_request"), ("привет", "reply_malformed"), ("{n} алло", "reply_malformed"),
])
def test_wrong_commands_get_a_helpful_reply_and_change_nothing(container, org, inbound, assigned, body, template):
    before = container.requests.history(org.id, assigned.number, DISPATCHER)
    out = sms(inbound, TECH_PHONE, body.format(n=assigned.number))
    assert out.outcome == "refused" and _reply(container, out).template == template
    assert len(container.requests.history(org.id, assigned.number, DISPATCHER)) == len(before)
    with container.engine.connect() as conn:
        row = conn.execute(sa.select(inbound_messages).where(inbound_messages.c.id == out.inbound_id)).one()
    assert row.outcome == "refused" and row.sender_kind == "staff"


def test_another_technicians_request_is_refused(container, org, inbound, assigned):
    container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Сидоров Пётр", "role": "technician",
                                                     "phone": "+79125550000"})
    out = sms(inbound, "+79125550000", f"{assigned.number} готово")
    assert _reply(container, out).template == "reply_foreign_request"
    assert _status(container, org, assigned.number) == "assigned"


def test_an_illegal_step_is_refused_with_the_current_status(container, org, inbound, assigned):
    out = sms(inbound, TECH_PHONE, f"{assigned.number} готово")  # not accepted yet
    assert out.outcome == "refused" and "назначена" in _reply(container, out).body


def test_an_unknown_sender_is_told_so_and_nothing_changes(container, org, inbound, assigned):
    out = sms(inbound, "+79990001122", f"{assigned.number} готово")
    assert out.outcome == "refused" and _reply(container, out).template == "reply_unknown_sender"
    assert _status(container, org, assigned.number) == "assigned"


def test_the_same_message_delivered_twice_is_handled_once(container, org, inbound, assigned):
    first = inbound.receive(provider="kannel", provider_message_id="dup-1", sender=TECH_PHONE,
                            body=f"{assigned.number} принято")
    again = inbound.receive(provider="kannel", provider_message_id="dup-1", sender=TECH_PHONE,
                            body=f"{assigned.number} принято")
    assert (first.outcome, again.outcome) == ("applied", "duplicate")


def test_a_resident_rates_a_closed_request(container, org, inbound, assigned, technician):
    from journal_api.domain.events import Actor

    tech = Actor(kind="staff", role="technician", id=technician.id, name="И")
    container.requests.transition(org.id, assigned.number, tech, "sms", "accepted")
    container.requests.transition(org.id, assigned.number, tech, "sms", "done", report="ok")
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "closed")
    out = sms(inbound, RESIDENT_PHONE, "5!")
    assert out.outcome == "applied"
    assert container.requests.rating(org.id, assigned.number, DISPATCHER).score == 5
    assert sms(inbound, RESIDENT_PHONE, "4").outcome == "refused"  # rated already: nothing to rate


def _inbound_row(container, provider_id):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(inbound_messages)
                            .where(inbound_messages.c.provider_message_id == provider_id)).one()


def test_a_message_whose_handling_failed_is_handled_by_the_providers_retry(container, org, notifier, assigned):
    crashing = CrashingOnce(notifier)
    body = f"{assigned.number} принято"
    with pytest.raises(ConnectionError):
        crashing.receive(provider="kannel", provider_message_id="retry-1", sender=TECH_PHONE, body=body)
    assert _inbound_row(container, "retry-1").outcome == "failed"
    assert _status(container, org, assigned.number) == "assigned"
    again = crashing.receive(provider="kannel", provider_message_id="retry-1", sender=TECH_PHONE, body=body)
    assert again.outcome == "applied" and _status(container, org, assigned.number) == "accepted"
    assert _inbound_row(container, "retry-1").outcome == "applied"
    replay = crashing.receive(provider="kannel", provider_message_id="retry-1", sender=TECH_PHONE, body=body)
    assert replay.outcome == "duplicate"  # handled now: a third delivery is a replay
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbound_messages)).scalar() == 1


def test_a_message_being_handled_is_a_duplicate_until_its_process_is_presumed_dead(container, org, inbound,
                                                                                   assigned):
    from datetime import timedelta

    with container.engine.begin() as conn:  # another process stored it and is handling it right now
        conn.execute(sa.insert(inbound_messages).values(
            provider="kannel", provider_message_id="busy-1", sender=TECH_PHONE, body=f"{assigned.number} принято",
            received_at=container.clock(), sender_kind="staff", outcome="received"))
    out = inbound.receive(provider="kannel", provider_message_id="busy-1", sender=TECH_PHONE,
                          body=f"{assigned.number} принято")
    assert out.outcome == "duplicate" and _status(container, org, assigned.number) == "assigned"
    with container.engine.begin() as conn:  # ... and died three minutes ago
        conn.execute(sa.update(inbound_messages).values(received_at=container.clock() - timedelta(minutes=3)))
    out = inbound.receive(provider="kannel", provider_message_id="busy-1", sender=TECH_PHONE,
                          body=f"{assigned.number} принято")
    assert out.outcome == "applied" and _status(container, org, assigned.number) == "accepted"


def _closed(container, org, assigned, technician):
    from journal_api.domain.events import Actor

    tech = Actor(kind="staff", role="technician", id=technician.id, name="И")
    container.requests.transition(org.id, assigned.number, tech, "sms", "accepted")
    container.requests.transition(org.id, assigned.number, tech, "sms", "done", report="ok")
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "closed")


@pytest.mark.parametrize("body", ["6", "0", "оценка 7", "10 спасибо"])
def test_a_residents_score_out_of_range_gets_told_how_to_rate_and_changes_nothing(container, org, inbound,
                                                                                  assigned, technician, body):
    _closed(container, org, assigned, technician)
    before = len(container.requests.history(org.id, assigned.number, DISPATCHER))
    out = sms(inbound, RESIDENT_PHONE, body)
    reply = _reply(container, out)
    assert out.outcome == "refused" and reply.template == "reply_rating_invalid"
    assert reply.body.startswith("Оценка — цифра от 1 до 5")
    assert container.requests.rating(org.id, assigned.number, DISPATCHER) is None
    assert len(container.requests.history(org.id, assigned.number, DISPATCHER)) == before
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.requests)).scalar() == 1  # no new request
        row = conn.execute(sa.select(inbound_messages).where(inbound_messages.c.id == out.inbound_id)).one()
    assert (row.body, row.outcome) == (body, "refused")  # journaled


def test_a_score_out_of_range_with_an_open_request_is_not_a_comment(container, org, inbound, assigned):
    out = sms(inbound, RESIDENT_PHONE, "6")
    assert _reply(container, out).template == "reply_rating_invalid"
    assert [e for e in container.requests.history(org.id, assigned.number, DISPATCHER) if e.kind == "comment"] == []


def test_five_with_thanks_rates_a_closed_unrated_request_five(container, org, inbound, assigned, technician):
    _closed(container, org, assigned, technician)
    out = sms(inbound, RESIDENT_PHONE, "5 спасибо")
    assert out.outcome == "applied" and _reply(container, out).template == "reply_rating_thanks"
    assert container.requests.rating(org.id, assigned.number, DISPATCHER).score == 5


def test_glued_and_punctuated_commands_from_a_technician_change_the_request(container, org, inbound, assigned):
    assert sms(inbound, TECH_PHONE, f"№{assigned.number}принято").outcome == "applied"
    assert sms(inbound, TECH_PHONE, f"{assigned.number}-готово").outcome == "applied"
    assert _status(container, org, assigned.number) == "done"


def test_free_text_from_a_known_resident_without_an_open_request_registers_one(container, org, inbound,
                                                                               assigned, technician):
    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "cancelled", reason="дубль")
    out = sms(inbound, RESIDENT_PHONE, "В подъезде не горит свет")
    assert out.outcome == "registered"
    with container.engine.connect() as conn:
        row = conn.execute(sa.select(t.requests).where(t.requests.c.id != assigned.id)).one()
    assert (row.channel, row.caller_phone, row.description) == ("sms", RESIDENT_PHONE, "В подъезде не горит свет")
    reply = _reply(container, out)
    assert f"№{row.number}" in reply.body and reply.segments <= 2
    assert container.links.verify(reply.body.rsplit("/r/", 1)[1], "resident").request_id == row.id


def test_free_text_with_an_open_request_goes_to_its_history(container, org, inbound, assigned):
    out = sms(inbound, RESIDENT_PHONE, "Соседи снизу тоже жалуются")
    assert out.outcome == "commented"
    notes = [e.new_value for e in container.requests.history(org.id, assigned.number, DISPATCHER)
             if e.kind == "comment"]
    assert notes == ["Соседи снизу тоже жалуются"]


def test_stop_is_confirmed_once_and_then_nothing_more_is_sent(container, org, notifier, inbound, assigned,
                                                              technician):
    out = sms(inbound, RESIDENT_PHONE, "СТОП")
    assert _reply(container, out).status == "queued"
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sms_opt_outs.c.phone)).scalars().all() == [RESIDENT_PHONE]
    from journal_api.domain.events import Actor

    container.requests.transition(org.id, assigned.number, Actor(kind="staff", role="technician",
                                                                 id=technician.id, name="И"), "sms", "accepted")
    pump(container, notifier)
    accepted = all_messages(container, template="resident_accepted")
    assert [m.status for m in accepted] == ["suppressed"]


def test_a_new_sms_request_gets_the_facts_the_extractor_finds(container, org, notifier, building):
    from transcription.extract import extract  # the tests may import it; the notifier takes it through a hook

    container.registry.add_resident(org.id, SYSTEM, RESIDENT_PHONE, building_id=building.id, apartment=12)
    out = InboundService(notifier, extractor=extract).receive(
        provider="kannel", provider_message_id="ex-1", sender=RESIDENT_PHONE, body="В подъезде не горит свет, кв 45")
    assert out.outcome == "registered"
    request = container.requests.get(org.id, _number_of(container, out), DISPATCHER)
    assert (request.work_type, request.urgency, request.apartment, request.channel) == \
        ("electricity", "emergency", 45, "sms")
    assert request.building_id == building.id  # the resident's building, from the registry


def test_an_extracted_apartment_without_a_known_building_is_dropped_not_the_request(container, org, notifier,
                                                                                    assigned):
    from transcription.extract import extract

    container.requests.transition(org.id, assigned.number, DISPATCHER, "dispatcher", "cancelled", reason="дубль")
    out = InboundService(notifier, extractor=extract).receive(
        provider="kannel", provider_message_id="ex-2", sender=RESIDENT_PHONE, body="Не горит свет в квартире 45")
    request = container.requests.get(org.id, _number_of(container, out), DISPATCHER)
    assert (request.work_type, request.apartment) == ("electricity", None)


def _number_of(container, outcome):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(t.requests.c.number).join(inbound_messages,
                                                                inbound_messages.c.request_id == t.requests.c.id)
                            .where(inbound_messages.c.id == outcome.inbound_id)).scalar()


def test_the_web_app_finds_the_transcription_extractor_through_the_plugins():
    from notifier.inbound import find_extractor

    extractor = find_extractor()
    assert extractor is not None
    facts = extractor("пахнет газом в подъезде")
    assert (facts["work_type"], facts["emergency"]) == ("gas", True)
