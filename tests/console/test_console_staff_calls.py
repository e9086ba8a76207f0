"""A staff call on the console's request page (issue 8 §1): its line in the history and its voice message."""
from __future__ import annotations

from console_support import SYSTEM, write_wav


def test_the_request_page_shows_a_technicians_voice_message_and_the_calls_history_line(
        console, container, org, make_request, tmp_path):
    c = container
    tech = c.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Иванов Иван Петрович", "role": "technician", "phone": "+7 912 345-67-89",
        "sip_account": "ivanov"})
    r = make_request(description="Течь в подвале")
    now = c.clock()
    call_id = c.calls.open_call(org_id=org.id, sip_call_id="s-1", call_uuid="staff-1", from_number=tech.phone,
                                to_number="dispatch", arrived_at=now)
    c.calls.answered(call_id, now)
    c.calls.attach_request(call_id, number=r.number)
    c.calls.callback_task(call_id, reason="voicemail")
    c.calls.ended(call_id, at=now, status="answered", ivr_path=["to_dispatcher", "voicemail_record", "callback"])
    rec = c.calls.attach_recording(call_id=call_id, kind="voicemail", path=write_wav(tmp_path / "v.wav"))
    c.calls.log_staff_call(call_id, account="ivanov")
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert "звонок сотрудника" in page and "Иванов Иван Петрович" in page
    assert f"голосовое сообщение 3 с, запись № {rec}" in page
    assert f"/recordings/{rec}/audio" in page  # its player
