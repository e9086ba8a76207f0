"""SMS texts: segment counting by the GSM 7-bit / UCS-2 rules, and the Russian templates within their budget."""
from __future__ import annotations

import pytest

from notifier import segments
from notifier.templates import load_catalogue

LINK = "https://ads.uk-komfort-service.ru/t/Xk3p9QaZ12ab"  # a production host, a real token's length


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
                  address_short="Королёва Сергея Павловича 10к2", place=" п3 эт5 кв145", apartment=" кв145",
                  deadline="27.11 14:30", resident_phone="+79123456789", link=LINK,
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
    rendered = _assignment(problem="Ж" * length, address="А" * length, address_short="Б" * length)
    assert rendered.segments <= 2 and "12345" in rendered.text and LINK in rendered.text


LONG_ADDRESSES = [  # (street, house, korpus): real Russian street names, the longest kinds
    ("ул. Академика Королёва Сергея Павловича", "10", "2"),
    ("проспект Маршала Жукова Георгия Константиновича", "123", "12"),
    ("набережная Адмирала Лазарева Михаила Петровича", "145", "3"),
    ("улица Героя Советского Союза Николая Гастелло", "7", None),
    ("Большая Переяславская улица", "46", "1"),
]
PROBLEM = ("Течь из-под ванной, заливает соседей снизу, вода идёт по стене в подъезде, "
           "в квартире нет холодной воды со вчерашнего вечера")
LINKS = [LINK, "https://dispetcher24.uk-komfort-service.ru/t/Xk3p9QaZ12ab"]


def _facts(street, house, korpus, **over):
    from datetime import datetime, timezone

    from notifier.compose import Facts

    values = dict(request_id=1, org_id=1, number=123456, status="assigned", urgency="emergency",
                  description=PROBLEM, work_type="water", caller_phone="+79123456789", street=street, house=house,
                  korpus=korpus, entrance=12, floor=16, apartment=1456,
                  due_at=datetime(2026, 11, 27, 11, 30, tzinfo=timezone.utc), postponed_until=None, report=None,
                  assignee_id=7, assignee_name="Иванов Иван", timezone="Europe/Moscow", org_settings=None)
    values.update(over)
    return Facts(**values)


def _fields(catalogue, f, **extra):
    """The fields the notifier renders an assignment with (Notifier.message)."""
    from notifier import compose, shorten

    return compose.fields(f, catalogue, **shorten.fields(f, catalogue), **extra)


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("street,house,korpus", LONG_ADDRESSES)
def test_a_worst_case_assignment_fits_two_segments_with_number_deadline_phone_link_and_house(street, house, korpus,
                                                                                             link):
    catalogue = load_catalogue()
    rendered = catalogue.render("assignment", _fields(catalogue, _facts(street, house, korpus), link=link))
    assert rendered.encoding == "ucs2" and rendered.segments == 2, rendered.text
    assert segments.count(rendered.text).units <= 134
    for kept in ("№123456", "АВАРИЯ", "27.11 14:30", "+79123456789", "кв1456", link):
        assert kept in rendered.text, (kept, rendered.text)
    assert house + (f"к{korpus}" if korpus else "") in rendered.text  # the house number is never cut
    assert rendered.text.endswith(link)


def test_the_problem_is_shortened_before_the_address():
    catalogue = load_catalogue()
    f = _facts("ул. Ленина", "10", None, description="Ж" * 300)
    rendered = catalogue.render("assignment", _fields(catalogue, f, link=LINK))
    assert rendered.segments == 2 and "Ленина 10 кв1456: ЖЖЖЖЖЖЖЖЖЖЖЖЖЖ" in rendered.text
    assert rendered.shortened == ("problem",)  # the address is whole


def test_the_short_address_drops_the_street_type_and_titles_but_keeps_the_house():
    from notifier.shorten import address_short

    assert address_short(_facts("проспект Маршала Жукова", "12", "3")) == "Жукова 12к3"
    assert address_short(_facts("ул. Ленина", "5", None)) == "Ленина 5"
    assert address_short(_facts(None, None, None)) == ""


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
              link=LINK, text="Буду завтра в 10:00, обеспечьте доступ к стояку в подвале", urgent=" АВАРИЯ",
              place=" п3 эт5 кв45", note="",
              resident_phone="+79161234567", items="№1 ул. Ленина 10; №2 ул. Мира 5", address_short="Ленина 10к2",
              apartment=" кв45")


def test_every_template_fits_its_segment_budget_with_a_six_digit_number():
    catalogue = load_catalogue()
    for name, template in catalogue.templates.items():
        fields = {key: SAMPLE.get(key, "…") for key in template.fields}
        rendered = catalogue.render(name, fields)
        assert rendered.segments <= template.max_segments, (name, rendered.text)


@pytest.mark.parametrize("link", LINKS)
def test_the_technicians_longest_message_to_the_resident_is_sent_whole_within_its_budget(link):
    from journal_api.domain.request import MAX_RESIDENT_MESSAGE

    text = ("Приду завтра утром, перекрою стояк. " * 20)[:MAX_RESIDENT_MESSAGE].strip()
    rendered = load_catalogue().render("resident_message", dict(number=123456, text=text, link=link))
    assert text in rendered.text and rendered.text.endswith(link) and rendered.segments <= 5


@pytest.mark.parametrize("name", ["resident_registered", "resident_accepted", "resident_postponed",
                                  "resident_rating_request", "reply_resident_registered", "reply_resident_open"])
def test_the_residents_messages_carry_a_production_link_within_two_segments(name):
    rendered = load_catalogue().render(name, dict(SAMPLE, link=LINKS[1]))
    assert rendered.segments <= 2 and rendered.text.endswith(LINKS[1]) and "…" not in rendered.text
