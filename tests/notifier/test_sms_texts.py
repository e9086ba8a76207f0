"""SMS texts: segment counting by the GSM 7-bit / UCS-2 rules, and the Russian templates within their budget."""
from __future__ import annotations

import pytest

from notifier import segments
from notifier.templates import load_catalogue

LINK = "http://127.0.0.1:8080/t/Xk3p9QaZ12ab"


@pytest.mark.parametrize("text,encoding,count", [
    ("a" * 160, "gsm7", 1), ("a" * 161, "gsm7", 2), ("a" * 306, "gsm7", 2), ("a" * 307, "gsm7", 3),
    ("{" * 80, "gsm7", 1), ("{" * 81, "gsm7", 2),  # extension characters take two septets
    ("я" * 70, "ucs2", 1), ("я" * 71, "ucs2", 2), ("я" * 134, "ucs2", 2), ("я" * 135, "ucs2", 3),
    ("a" * 69 + "ж", "ucs2", 1), ("😀" * 35, "ucs2", 1), ("😀" * 36, "ucs2", 2),
])
def test_segments_follow_gsm7_and_ucs2_limits(text, encoding, count):
    counted = segments.count(text)
    assert (counted.encoding, counted.segments) == (encoding, count)


def _assignment(**over):
    fields = dict(number=12345, urgent=" АВАРИЯ", address="ул. Академика Королёва Сергея Павловича 10к2",
                  place=" п3 эт5 кв145", deadline="27.11 14:30", resident_phone="+79123456789", link=LINK,
                  problem="Течь из-под ванной, заливает соседей снизу, вода идёт по стене в подъезде")
    fields.update(over)
    return load_catalogue().render("assignment", fields)


def test_an_assignment_with_a_long_address_fits_two_segments_keeping_number_phone_and_link():
    rendered = _assignment()
    assert rendered.encoding == "ucs2" and rendered.segments == 2
    assert "12345" in rendered.text and "+79123456789" in rendered.text and rendered.text.endswith(LINK)
    assert "…" in rendered.text and rendered.shortened


def test_a_short_assignment_is_sent_whole_with_its_reply_hint():
    rendered = _assignment(address="ул. Ленина 10", problem="Нет света", place=" кв4", urgent="",
                           link="https://ads.uk.ru/t/Xk3p9QaZ")
    assert rendered.shortened == () and rendered.segments <= 2
    assert "Нет света" in rendered.text and "1-принял" in rendered.text


@pytest.mark.parametrize("length", [10, 60, 200, 1000])
def test_any_problem_length_keeps_the_assignment_within_two_segments(length):
    rendered = _assignment(problem="Ж" * length, address="А" * length)
    assert rendered.segments <= 2 and "12345" in rendered.text and LINK in rendered.text


def test_every_template_the_default_ladder_names_exists():
    from journal_api.rules.escalation_loader import default_ladder

    catalogue = load_catalogue()
    assert sorted(name for name in default_ladder().templates() if name not in catalogue) == []


def test_replies_fit_one_segment():
    catalogue = load_catalogue()
    for name in ("reply_unknown_sender", "reply_malformed", "reply_stop", "reply_rating_nothing"):
        assert catalogue.render(name, {}).segments == 1, name
    assert catalogue.render("reply_unknown_request", {"number": 123456}).segments == 1


SAMPLE = dict(number=123456, deadline="27.11 14:30", until="28.11 10:00", score=5, report="заменил кран",
              status_text="отложена до 28.11 10:00", detail="Заявка в статусе «назначена».", problem="Течь",
              address="ул. Ленина 10к2", assignee="Иванов И.П.", phone="+79123456789", error="Twilio 21211",
              link="https://ads.uk.ru/t/Xk3p9QaZ", urgent=" АВАРИЯ", place=" п3 эт5 кв45", note="",
              resident_phone="+79161234567", items="№1 ул. Ленина 10; №2 ул. Мира 5")


def test_every_template_fits_its_segment_budget_with_a_six_digit_number():
    catalogue = load_catalogue()
    for name, template in catalogue.templates.items():
        fields = {key: SAMPLE.get(key, "…") for key in template.fields}
        rendered = catalogue.render(name, fields)
        assert rendered.segments <= template.max_segments, (name, rendered.text)
