"""What a dispatcher reads on a request page is Russian: the extracted facts' names and values, and a failed
transcript's reason said once."""
from __future__ import annotations

import re

from console_support import write_wav


def _transcribed(container, org, make_request, tmp_path, facts):
    r = make_request(description="Течёт труба")
    call_id = container.calls.open_call(org_id=org.id, sip_call_id="sip-f", call_uuid="uuid-f",
                                        from_number="+79035551001", to_number=None, arrived_at=container.clock())
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description",
                                              path=write_wav(tmp_path / "f.wav"), request_id=r.id)
    tid = container.transcripts.open(org_id=org.id, kind="description", call_id=call_id, recording_id=rec_id,
                                     request_id=r.id)
    return r, tid, facts


def _facts_table(page: str) -> str:
    return page.split("Извлечённые сведения", 1)[1].split("</table>", 1)[0]


def test_the_facts_table_names_fields_in_russian_and_says_yes_or_no(console, container, org, building,
                                                                    make_request, tmp_path):
    r, tid, facts = _transcribed(container, org, make_request, tmp_path, {
        "work_type": {"value": "water", "confidence": 0.9}, "emergency": {"value": True, "confidence": 0.8},
        "street": {"value": "ленина", "confidence": 0.7}, "korpus": {"value": None, "confidence": 0.0},
        "building_pk": {"value": building.id, "confidence": 0.7}, "emergency_cues": ["течёт"]})
    container.transcripts.complete(tid, {"engine": "test", "text": "течёт труба на ленина", "words": []}, facts)
    table = _facts_table(console.get(f"/requests/{r.number}").get_data(as_text=True))
    cells = re.findall(r"<td>([^<]*)", table)
    for english in ("work_type", "emergency", "street", "korpus", "building_pk", "True", "False", "None"):
        assert english not in cells, (english, cells)
    assert "авария" in cells and "да" in cells and "улица" in cells and "корпус" in cells
    assert "дом в реестре" in cells and "ул. Ленина, д. 10, корп. 2" in cells


def test_a_failed_transcript_says_its_reason_once(console, container, org, make_request, tmp_path):
    r, tid, _ = _transcribed(container, org, make_request, tmp_path, None)
    container.transcripts.fail(tid, "не удалось распознать: запись пустая")
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    status = page.split('class="muted transcript-status">', 1)[1].split("</p>", 1)[0]
    assert status == "не удалось распознать: запись пустая"


def test_a_failed_transcript_with_a_bare_reason_gets_the_status_before_it(console, container, org, make_request,
                                                                          tmp_path):
    r, tid, _ = _transcribed(container, org, make_request, tmp_path, None)
    container.transcripts.fail(tid, "модель не загружена")
    page = console.get(f"/requests/{r.number}").get_data(as_text=True)
    status = page.split('class="muted transcript-status">', 1)[1].split("</p>", 1)[0]
    assert status == "не удалось распознать: модель не загружена"
