"""The technician's page and the resident's page: a signed link opens one request; statuses, photos (checked by
content, EXIF orientation fixed), a message to the resident, the rating; expired and revoked links."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from console_support import CSRF, SYSTEM
from PIL import Image

from journal_api.domain.errors import Forbidden

from journal_api.service.links import LinkService


def _jpeg_rotated(width=40, height=20) -> bytes:
    """A landscape JPEG whose EXIF says "rotate 90° clockwise to show" (orientation 6), as phones write them."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _assigned(container, org, technician, make_request, **fields):
    r = make_request(**fields)
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id)
    path = container.links.issue(org.id, r.id, audience="technician", subject_id=technician.id,
                                 ttl=timedelta(days=1))
    return r, path


def _csrf(client, path):
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def test_the_technicians_page_shows_the_request_with_calls_map_and_deadline(client, container, org, technician,
                                                                          make_request):
    r, path = _assigned(container, org, technician, make_request, description="Течёт кран")
    page = client.get(path).get_data(as_text=True)
    assert f"Заявка № {r.number}" in page and "Течёт кран" in page
    assert 'href="tel:+79035551001"' in page and 'href="sip:dispatch@' in page
    assert "yandex.ru/maps/?text=" in page and "ул. Ленина" in page
    assert 'class="countdown"' in page and "осталось" in page


def test_the_technician_accepts_then_finishes_with_a_report(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    token = _csrf(client, path)
    client.post(path + "/status", data={"csrf_token": token, "to": "accepted"})
    client.post(path + "/status", data={"csrf_token": token, "to": "done", "report": "Заменил прокладку"})
    after = container.requests.get(org.id, r.number, SYSTEM)
    assert (after.status, after.report) == ("done", "Заменил прокладку")
    moves = [(h.new_value, h.channel, h.actor_name) for h in container.requests.history(org.id, r.number, SYSTEM)
             if h.kind == "status" and h.new_value in ("accepted", "done")]
    assert moves == [("accepted", "web", technician.full_name), ("done", "web", technician.full_name)]


def test_a_status_without_its_reason_is_refused_with_a_message(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    token = _csrf(client, path)
    page = client.post(path + "/status", data={"csrf_token": token, "to": "impossible"},
                       follow_redirects=True).get_data(as_text=True)
    assert 'class="flash error"' in page
    assert container.requests.get(org.id, r.number, SYSTEM).status == "assigned"


def test_a_photo_is_stored_upright_as_a_clean_jpeg(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    token = _csrf(client, path)
    response = client.post(path + "/photo", data={"csrf_token": token, "photo": (io.BytesIO(_jpeg_rotated()),
                                                                                 "IMG_1.HEIC")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    [att] = container.requests.attachments(org.id, r.number, SYSTEM)
    assert (att.kind, att.content_type, att.filename) == ("photo", "image/jpeg", "IMG_1.jpg")
    served = client.get(re.search(r'src="(/t/[^"]+/photos/\d+)"', client.get(path).get_data(as_text=True)).group(1))
    stored = Image.open(io.BytesIO(served.data))
    assert stored.size == (20, 40)  # turned upright
    assert 0x0112 not in stored.getexif()  # and no EXIF (no GPS position) left


def test_a_file_that_is_not_a_picture_is_refused_whatever_its_name(client, container, org, technician,
                                                                  make_request):
    r, path = _assigned(container, org, technician, make_request)
    token = _csrf(client, path)
    page = client.post(path + "/photo", data={"csrf_token": token, "photo": (io.BytesIO(b"<?php echo 1; ?>" * 10),
                                                                             "photo.jpg")},
                       content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "не удалось прочитать как фотографию" in page
    assert container.requests.attachments(org.id, r.number, SYSTEM) == []


def test_the_technicians_message_reaches_the_residents_page(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    page = client.post(path + "/message", data={"csrf_token": _csrf(client, path), "text": "Буду через час <b>"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Сообщение отправлено жителю по СМС." in page
    resident = container.links.issue(org.id, r.id, audience="resident", ttl=timedelta(days=1))
    page = client.get(resident).get_data(as_text=True)
    assert "Буду через час &lt;b&gt;" in page


def _events(container, name):
    import sqlalchemy as sa

    from journal_api.storage import tables as t

    with container.engine.connect() as conn:
        return [row.payload for row in conn.execute(sa.select(t.outbox).where(t.outbox.c.name == name))]


def test_the_technicians_message_is_an_event_the_notifier_texts_to_the_resident(client, container, org,
                                                                                technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    client.post(path + "/message", data={"csrf_token": _csrf(client, path), "text": "Откройте подвал к 10:00"})
    assert [p["text"] for p in _events(container, "request.resident_messaged")] == ["Откройте подвал к 10:00"]


def test_a_message_to_a_request_without_a_residents_phone_says_so_and_sends_nothing(client, container, org,
                                                                                   technician, make_request):
    r, path = _assigned(container, org, technician, make_request, caller_phone=None)
    page = client.post(path + "/message", data={"csrf_token": _csrf(client, path), "text": "Буду в 10"},
                       follow_redirects=True).get_data(as_text=True)
    assert "У заявки нет телефона жителя" in page and "отправлено жителю" not in page
    assert _events(container, "request.resident_messaged") == []
    assert [h for h in container.requests.history(org.id, r.number, SYSTEM) if h.kind == "comment"] == []


def test_a_message_to_a_resident_who_said_stop_is_kept_in_the_history_and_the_page_says_it_is_not_sent(
        client, container, org, technician, make_request):
    import sqlalchemy as sa

    from journal_api.storage import tables as t
    from journal_api.storage.tables_messages import sms_opt_outs

    r, path = _assigned(container, org, technician, make_request)
    with container.engine.begin() as conn:
        conn.execute(sa.insert(sms_opt_outs).values(org_id=org.id, phone=r.caller_phone, created_at=t.utcnow()))
    page = client.post(path + "/message", data={"csrf_token": _csrf(client, path), "text": "Буду в 10"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Житель отказался от СМС (СТОП)" in page
    assert [h.new_value for h in container.requests.history(org.id, r.number, SYSTEM) if h.kind == "comment"] == \
        ["Сообщение жителю: Буду в 10"]


def test_an_oversized_photo_is_refused_with_its_size_not_as_unreadable(client, container, org, technician,
                                                                      make_request):
    import dataclasses

    r, path = _assigned(container, org, technician, make_request)
    container.settings = dataclasses.replace(container.settings, max_upload_bytes=len(_jpeg_rotated()) - 10)
    page = client.post(path + "/photo", data={"csrf_token": _csrf(client, path),
                                              "photo": (io.BytesIO(_jpeg_rotated()), "photo.jpg")},
                       content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "Фотография больше" in page and "не удалось прочитать" not in page
    assert container.requests.attachments(org.id, r.number, SYSTEM) == []


def test_a_link_opens_its_own_request_only(client, container, org, technician, make_request):
    first, path = _assigned(container, org, technician, make_request)
    second, other = _assigned(container, org, technician, make_request, description="Вторая")
    att = container.requests.attach(org.id, second.number, SYSTEM, "system", kind="photo", filename="p.jpg",
                                    content_type="image/jpeg", stream=io.BytesIO(_jpeg_rotated()))
    assert client.get(f"{path}/photos/{att.id}").status_code == 404
    assert client.get(f"{other}/photos/{att.id}").status_code == 200
    assert client.get("/t/AAAAAAAAAAAA").status_code == 404
    assert client.get(path.replace("/t/", "/r/")).status_code == 404  # a technician's link is not a resident's


def test_a_revoked_or_expired_link_says_so(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    container.links.revoke(path)
    response = client.get(path)
    assert response.status_code == 410 and "Ссылка отозвана." in response.get_data(as_text=True)
    clock_now = [container.clock()]
    links = LinkService(container.uow, lambda: clock_now[0])
    old = links.issue(org.id, r.id, audience="technician", subject_id=technician.id, ttl=timedelta(minutes=1))
    clock_now[0] += timedelta(minutes=5)
    with pytest.raises(Forbidden, match="истёк"):
        links.verify(old, "technician")


def test_after_reassignment_the_old_link_no_longer_shows_the_request(client, container, org, technician,
                                                                    make_request):
    r, path = _assigned(container, org, technician, make_request, description="Секретная деталь")
    other = container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Сидоров", "role": "technician",
                                                             "phone": "+7 912 000-00-01"})
    container.requests.assign(org.id, r.number, SYSTEM, "system", other.id)
    response = client.get(path)
    assert response.status_code == 403 and "Секретная деталь" not in response.get_data(as_text=True)


def test_the_resident_sees_the_report_and_rates_the_work_once(client, container, org, technician, make_request):
    r, _ = _assigned(container, org, technician, make_request)
    tech = container.requests.get(org.id, r.number, SYSTEM).assignee
    from journal_api.domain.events import Actor

    actor = Actor(kind="staff", role="technician", id=tech.id, name=tech.full_name)
    container.requests.transition(org.id, r.number, actor, "web", "accepted")
    container.requests.transition(org.id, r.number, actor, "web", "done", report="Заменён смеситель")
    path = container.links.issue(org.id, r.id, audience="resident", ttl=timedelta(days=7))
    page = client.get(path).get_data(as_text=True)
    assert "Заменён смеситель" in page and 'id="rate-form"' in page
    token = CSRF.search(page).group(1)
    client.post(path + "/rate", data={"csrf_token": token, "score": "5", "comment": "Спасибо"})
    assert container.requests.rating(org.id, r.number, SYSTEM).score == 5
    again = client.post(path + "/rate", data={"csrf_token": token, "score": "1"}, follow_redirects=True)
    assert container.requests.rating(org.id, r.number, SYSTEM).score == 5
    assert "Ваша оценка: 5 из 5" in again.get_data(as_text=True)


def test_the_public_pages_need_the_csrf_token_on_every_post(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    client.get(path)
    assert client.post(path + "/status", data={"to": "accepted"}).status_code == 400
    assert container.requests.get(org.id, r.number, SYSTEM).status == "assigned"
