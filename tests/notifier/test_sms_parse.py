"""The inbound command parser tolerates what a technician types on a push-button phone."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from notifier.parse import parse, resolve

MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize("text,kind,number", [
    ("1234 принято", "accept", 1234), ("1234 ПРИНЯТО.", "accept", 1234), ("№1234 принято", "accept", 1234),
    ("№ 1234   Принял!!", "accept", 1234), ("N1234 prinyato", "accept", 1234), ("1234 1", "accept", 1234),
    ("1234 гoтoвo", "done", 1234),  # Latin o in a Cyrillic word
    ("1234 ГОТОВО", "done", 1234), ("1234 4", "done", 1234), ("готово 1234", "done", 1234),
    ("заявка 1234 выполнено", "done", 1234), ("1234 невозможно нет доступа", "impossible", 1234),
    ("1234 3 закрыт подвал", "impossible", 1234), ("1234 отложено завтра", "postpone", 1234),
    ("1234 2 нет запчасти", "postpone", 1234), ("1234 привет", "malformed", 1234), ("1234", "malformed", 1234),
    ("1234-готово", "done", 1234), ("1234.готово", "done", 1234), ("1234:готово", "done", 1234),
    ("№1234готово", "done", 1234), ("готово №1234", "done", 1234), ("№ 1234 принято", "accept", 1234),
    ("1234 - готово", "done", 1234), ("N1234-prinyato", "accept", 1234),
    ("мои", "mine", None), ("  МОИ ", "mine", None), ("Стоп", "stop", None), ("STOP", "stop", None),
])
def test_commands_are_understood_whatever_the_spelling(text, kind, number):
    command = parse(text)
    assert (command.kind, command.number) == (kind, number)


def test_a_lone_digit_from_one_to_five_is_a_rating():
    assert [parse(s).score for s in ("1", "5", "оценка 4")] == [1, 5, 4]
    assert parse("6").kind == "malformed"


@pytest.mark.parametrize("text,score", [("5 спасибо", 5), ("Спасибо, 4", 4), ("оценка: 3", 3), ("5 из 5", 5),
                                        ("ставлю 5 баллов", 5), ("5!", 5)])
def test_a_score_with_polite_words_is_a_rating(text, score):
    command = parse(text)
    assert (command.kind, command.score) == ("rating", score)


@pytest.mark.parametrize("text", ["6", "0", "оценка 7", "10 спасибо", "оценка 0"])
def test_a_score_out_of_range_is_malformed_and_marked_as_rating_like(text):
    command = parse(text)
    assert command.kind == "malformed" and command.rating_like and command.score is None


def test_a_comment_after_a_glued_number_keeps_its_words():
    assert parse("1234-готово заменил кран кв5").text == "заменил кран кв5"
    assert parse("1234.готово").text is None


def test_free_text_stays_as_written():
    command = parse("Течёт кран на кухне, кв. 5")
    assert command.kind == "text" and command.text == "Течёт кран на кухне, кв. 5"


def test_the_comment_and_reason_keep_the_senders_words():
    assert parse("1234 готово, заменил кран").text == "заменил кран"
    assert parse("1234 невозможно Нет доступа в подвал").text == "Нет доступа в подвал"


def test_postponed_with_date_time_and_reason():
    command = parse("1234 отложено 28.11 15:30 нет запчасти")
    now = datetime(2026, 11, 27, 12, 0, tzinfo=MSK)
    assert command.text == "нет запчасти"
    assert resolve(command.when, now) == datetime(2026, 11, 28, 15, 30, tzinfo=MSK)


def test_postponed_dates_resolve_to_the_future():
    now = datetime(2026, 12, 30, 12, 0, tzinfo=MSK)
    assert resolve(parse("1 отложено 05.01").when, now) == datetime(2027, 1, 5, 10, 0, tzinfo=MSK)
    assert resolve(parse("1 отложено завтра в 9").when, now) == datetime(2026, 12, 31, 9, 0, tzinfo=MSK)
    assert resolve(parse("1 отложено 11:00").when, now).time() == time(11, 0)
    assert resolve(parse("1 отложено 11:00").when, now).date().day == 31  # 11:00 today has passed


def test_a_preposition_before_the_date_does_not_become_the_reason():
    command = parse("1234 отложено до 28.11 нет запчасти")
    assert command.text == "нет запчасти" and command.when.day.day == 28
    assert parse("1234 отложено на завтра").text is None
