"""The technician's and the resident's phone pages: several photos in one post (camera or gallery; each checked, a bad
one refused by its name while the good ones are kept), error pages without the console's staff menu, the rating's
comment as long as the domain accepts, the reason by its title."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from console_support import CSRF, SYSTEM
from PIL import Image

from journal_api.console import photos
from journal_api.console.public import MAX_RATING_COMMENT
from journal_api.domain.errors import ValidationError
from journal_api.domain.events import Actor
from journal_api.domain.request import Rating

STAFF_MENU = ("Журнал", "Монитор", "Новая заявка")


def _jpeg(colour=(20, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(out, "JPEG")
    return out.getvalue()


def _assigned(container, org, technician, make_request, **fields):
    r = make_request(**fields)
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id)
    return r, container.links.issue(org.id, r.id, audience="technician", subject_id=technician.id,
                                    ttl=timedelta(days=1))


def _csrf(client, path):
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def _post_photos(client, path, files):
    return client.post(path + "/photo", data={"csrf_token": _csrf(client, path),
                                              "photo": [(io.BytesIO(raw), name) for name, raw in files]},
                       content_type="multipart/form-data", follow_redirects=True)


def test_the_photo_field_offers_camera_and_gallery_and_several_photos(client, container, org, technician,
                                                                      make_request):
    _, path = _assigned(container, org, technician, make_request)
    page = client.get(path).get_data(as_text=True)
    field = page[page.index('<input type="file"'):]
    field = field[:field.index(">")]
    assert "capture" not in field and "multiple" in field and 'name="photo"' in field


def test_several_photos_in_one_post_are_all_stored(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    page = _post_photos(client, path, [("a.jpg", _jpeg()), ("b.png", _jpeg((200, 0, 0))), ("c.JPG", _jpeg())])
    assert "Загружено фотографий: 3." in page.get_data(as_text=True)
    stored = container.requests.attachments(org.id, r.number, SYSTEM)
    assert sorted(a.filename for a in stored) == ["a.jpg", "b.jpg", "c.jpg"]
    assert {a.kind for a in stored} == {"photo"} and {a.content_type for a in stored} == {"image/jpeg"}


def test_a_bad_photo_among_good_ones_is_refused_by_its_name_and_the_good_ones_are_kept(client, container, org,
                                                                                     technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    page = _post_photos(client, path, [("good-1.jpg", _jpeg()), ("virus.jpg", b"MZ" * 100),
                                       ("good-2.jpg", _jpeg())]).get_data(as_text=True)
    assert "«virus.jpg» не загружена. Файл не удалось прочитать как фотографию." in page
    assert "Загружено фотографий: 2." in page and 'class="flash error"' in page
    stored = container.requests.attachments(org.id, r.number, SYSTEM)
    assert sorted(a.filename for a in stored) == ["good-1.jpg", "good-2.jpg"]


def test_each_photo_keeps_the_size_limit(client, container, org, technician, make_request):
    import dataclasses

    r, path = _assigned(container, org, technician, make_request)
    small, big = _jpeg(), _jpeg() + b"\0" * 4000
    container.settings = dataclasses.replace(container.settings, max_upload_bytes=len(small) + 100)
    page = _post_photos(client, path, [("small.jpg", small), ("big.jpg", big)]).get_data(as_text=True)
    assert "«big.jpg» не загружена. Фотография больше" in page
    assert [a.filename for a in container.requests.attachments(org.id, r.number, SYSTEM)] == ["small.jpg"]


def test_one_photo_says_so_and_none_asks_for_one(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    assert "Фотография загружена." in _post_photos(client, path, [("one.jpg", _jpeg())]).get_data(as_text=True)
    empty = client.post(path + "/photo", data={"csrf_token": _csrf(client, path), "photo": (io.BytesIO(b""), "")},
                        content_type="multipart/form-data", follow_redirects=True)
    assert "Выберите фотографию." in empty.get_data(as_text=True)
    assert len(container.requests.attachments(org.id, r.number, SYSTEM)) == 1


def test_more_photos_than_one_post_takes_are_refused_whole(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    files = [(f"p{i}.jpg", _jpeg()) for i in range(photos.MAX_PER_POST + 1)]
    page = _post_photos(client, path, files).get_data(as_text=True)
    assert f"не больше {photos.MAX_PER_POST} фотографий" in page
    assert container.requests.attachments(org.id, r.number, SYSTEM) == []


def test_the_technicians_page_shows_a_catalogue_reason_by_its_title(client, container, org, technician,
                                                                    make_request):
    _, path = _assigned(container, org, technician, make_request, reason="water.pipe_burst")
    page = client.get(path).get_data(as_text=True)
    assert "Прорыв или течь трубы водоснабжения" in page and "water.pipe_burst" not in page


# -- error pages under the links ------------------------------------------------------------------------------------
def _phone_page(response, status):
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert '<body class="phone">' in page and 'name="viewport"' in page
    assert not [word for word in STAFF_MENU if word in page], page
    return page


def test_an_unknown_link_is_a_phone_page_without_the_staff_menu(client):
    for path in ("/t/AAAAAAAAAAAA", "/r/AAAAAAAAAAAA", "/t/AAAAAAAAAAAA/photos/1"):
        page = _phone_page(client.get(path), 404)
        assert "Ссылка не найдена" in page and "позвоните диспетчеру" in page


def test_a_revoked_link_is_a_phone_page_without_the_staff_menu(client, container, org, technician, make_request):
    r, path = _assigned(container, org, technician, make_request)
    resident = container.links.issue(org.id, r.id, audience="resident", ttl=timedelta(days=1))
    for link in (path, resident):
        container.links.revoke(link)
        page = _phone_page(client.get(link), 410)
        assert "Ссылка больше не действует" in page and "Ссылка отозвана." in page


def test_a_post_too_large_and_a_stale_form_are_phone_pages_with_a_way_back(app, client, container, org, technician,
                                                                          make_request):
    _, path = _assigned(container, org, technician, make_request)
    token = _csrf(client, path)
    app.config["MAX_CONTENT_LENGTH"] = 2000
    page = _phone_page(client.post(path + "/photo", data={"csrf_token": token,
                                                          "photo": (io.BytesIO(b"x" * 5000), "big.jpg")},
                                   content_type="multipart/form-data"), 413)
    assert "Файл слишком большой" in page and f'href="{path}"' in page
    page = _phone_page(client.post(path + "/status", data={"csrf_token": "stale", "to": "accepted"}), 400)
    assert "Форма устарела" in page and f'href="{path}"' in page


def test_the_consoles_own_error_pages_keep_the_staff_menu(console):
    page = console.get("/no-such-page")
    assert page.status_code == 404 and "Страница не найдена" in page.get_data(as_text=True)
    assert all(word in page.get_data(as_text=True) for word in STAFF_MENU)


# -- the resident's rating ------------------------------------------------------------------------------------------
def _done_with_resident_link(container, org, technician, make_request):
    r, _ = _assigned(container, org, technician, make_request)
    actor = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
    container.requests.transition(org.id, r.number, actor, "web", "accepted")
    container.requests.transition(org.id, r.number, actor, "web", "done", report="Заменён смеситель")
    return r, container.links.issue(org.id, r.id, audience="resident", ttl=timedelta(days=7))


def test_the_comment_field_allows_what_the_domain_accepts(client, container, org, technician, make_request):
    assert MAX_RATING_COMMENT == 1000
    Rating(org_id=1, request_id=1, score=5, comment="я" * MAX_RATING_COMMENT, created_at=container.clock())
    with pytest.raises(ValidationError):
        Rating(org_id=1, request_id=1, score=5, comment="я" * (MAX_RATING_COMMENT + 1), created_at=container.clock())
    _, path = _done_with_resident_link(container, org, technician, make_request)
    assert f'maxlength="{MAX_RATING_COMMENT}"' in client.get(path).get_data(as_text=True)


def test_a_1000_character_comment_is_kept_with_its_rating(client, container, org, technician, make_request):
    r, path = _done_with_resident_link(container, org, technician, make_request)
    comment = "Спасибо! " * 111 + "1"  # 1000 characters
    assert len(comment) == 1000
    page = client.post(path + "/rate", data={"csrf_token": _csrf(client, path), "score": "4", "comment": comment},
                       follow_redirects=True).get_data(as_text=True)
    assert "Спасибо за оценку!" in page
    rating = container.requests.rating(org.id, r.number, SYSTEM)
    assert (rating.score, rating.comment) == (4, comment)


def test_a_too_long_comment_never_loses_the_rating(client, container, org, technician, make_request):
    r, path = _done_with_resident_link(container, org, technician, make_request)
    comment = "а" * 2500  # a browser without maxlength, or a pasted text
    client.post(path + "/rate", data={"csrf_token": _csrf(client, path), "score": "2", "comment": comment})
    rating = container.requests.rating(org.id, r.number, SYSTEM)
    assert rating.score == 2 and rating.comment == "а" * MAX_RATING_COMMENT
