"""A tolerant parser of inbound SMS commands (pure: no I/O).

A technician on a push-button phone types fast and loose: any case, ё or е, extra spaces and punctuation, Latin
letters that look like Cyrillic ones (or plain transliteration), a number with or without "№". Understood:

- ``<номер> принято|отложено <дата и/или причина>|невозможно <причина>|готово [комментарий]``, also the short
  forms ``<номер> 1|2|3|4`` and the verb first (``готово 1234``);
- the number glued to the verb or set off by ``-``, ``.`` or ``:`` (``1234-готово``, ``№1234готово``), and the verb
  first with a ``№`` (``готово №1234``);
- ``мои`` (his open requests); ``стоп`` (no more messages);
- a rating: a lone number, ``оценка N``, ``N спасибо``, ``ставлю N``, ``N из 5``, ``N баллов``: kind ``rating``
  when N is 1-5, otherwise ``malformed`` with ``rating_like`` set (a resident is told how to rate);
- anything else is free text (from a resident with no open request: a new request).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

# Latin letters that look like Cyrillic ones, lower case.
LOOKALIKES = str.maketrans({"a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "k": "к", "m": "м", "o": "о",
                            "p": "р", "t": "т", "x": "х", "y": "у", "ё": "е"})
VERBS = {
    "accept": ("принято", "принята", "принял", "приняла", "принять", "принимаю", "беру", "взял", "prinyato",
               "prinjato", "prinal", "prinyal", "ok", "ок", "да", "1"),
    "postpone": ("отложено", "отложена", "отложил", "отложить", "отложу", "перенос", "перенести", "otlozheno",
                 "otlojeno", "2"),
    "impossible": ("невозможно", "невыполнимо", "неможу", "не могу", "nevozmozhno", "nevozmojno", "3"),
    "done": ("готово", "готов", "выполнено", "выполнена", "сделано", "сделал", "исполнено", "gotovo", "sdelano",
             "4"),
}
MINE = ("мои", "мои заявки", "мой", "список", "заявки", "moi", "spisok")
STOP = ("стоп", "stop", "отписаться", "отписка", "unsubscribe")
# polite and rating words around a score: "5 спасибо", "оценка 4", "ставлю 5 баллов", "5 из 5"
RATING_WORDS = frozenset("оценка оценку оцениваю оценил оценила ставлю ставим спасибо спс благодарю большое огромное "
                         "баллов балла балл звезд звезды звезда отлично хорошо".split())
# a number glued to the word after it, or set off by "-", "." or ":" ("1234-готово", "№1234готово")
_GLUED = re.compile(r"^(\s*(?:№|n|no|#|заявка)?\s*\d+)\s*[-.:]*\s*(?=[^\W\d_])", re.IGNORECASE)
_NUMBER = re.compile(r"^(?:№|n|no|#|заявка|зауавка)?\s*(\d{1,9})$")
_DATE = re.compile(r"(?<!\d)(\d{1,2})[./-](\d{1,2})(?:[./-](\d{2,4}))?(?!\d)")
_TIME = re.compile(r"(?<!\d)(\d{1,2})[:.-](\d{2})(?!\d)|(?<!\d)в\s?(\d{1,2})\s?(?:ч|час|часов|часа)?(?![\d.:])")


@dataclass(frozen=True)
class When:
    """A moment the technician named, still without a time zone."""

    day: date | None = None
    relative_days: int | None = None
    at: time | None = None


@dataclass(frozen=True)
class Command:
    kind: str  # accept | postpone | impossible | done | mine | stop | rating | text | empty | malformed
    number: int | None = None
    text: str | None = None  # the reason, comment, or the free text as sent
    when: When | None = None
    score: int | None = None
    rating_like: bool = False  # a malformed message that looks like a score ("6", "оценка 7")


def normalise(text: str) -> str:
    """Lower case, ё -> е, look-alike Latin -> Cyrillic inside words, punctuation -> spaces, one space."""
    text = text.lower().replace("ё", "е")
    text = re.sub(r"[,;!?«»\"'()\[\]{}]+", " ", text)
    words = []
    for word in text.split():
        letters = re.sub(r"[^a-zа-я]", "", word)
        cyrillic = re.search(r"[а-я]", letters) is not None
        latin_only = re.fullmatch(r"[a-z]+", letters or "-") is not None
        # a mixed word ("гoтoвo") or a Latin word made only of look-alikes ("ok" is not; "cto" is) goes Cyrillic
        if (cyrillic and re.search(r"[a-z]", letters)) or (latin_only and _all_lookalike(letters)
                                                           and not _known_latin(letters)):
            word = word.translate(LOOKALIKES)
        words.append(word.strip(".:-"))
    return " ".join(w for w in words if w)


def _all_lookalike(word: str) -> bool:
    return all(ch in "abcehkmoptxy" for ch in word)


def _known_latin(word: str) -> bool:
    return any(word == v or word.startswith(v) for verbs in VERBS.values() for v in verbs if v.isascii()) \
        or word in STOP or word in MINE


def _verb(words: list[str]) -> tuple[str | None, int]:
    """The command verb at the start of ``words``: (kind, how many words it took)."""
    for kind, verbs in VERBS.items():
        for verb in verbs:
            parts = verb.split()
            if words[:len(parts)] == parts or (len(parts) == 1 and len(words[0]) >= 4 and words[0].startswith(verb)):
                return kind, len(parts)
    return None, 0


def _number(word: str) -> int | None:
    match = _NUMBER.match(word)
    return int(match.group(1)) if match else None


def parse(raw: str) -> Command:
    raw = _GLUED.sub(r"\1 ", raw or "", count=1)
    text = normalise(raw)
    if not text:
        return Command("empty")
    if text in STOP:
        return Command("stop")
    if text in MINE:
        return Command("mine")
    words = _join_marks(text.replace("№", "№ ").split())
    rating = _rating(words)
    if rating is not None:
        return Command("rating", score=rating) if 1 <= rating <= 5 else \
            Command("malformed", number=rating, rating_like=True)
    first = _number(words[0])
    if first is not None and len(words) == 1:
        return Command("malformed", number=first)
    if first is not None:
        kind, used = _verb(words[1:])
        rest = words[1 + used:]
    else:
        kind, used = _verb(words)
        number = _number(words[used]) if kind and len(words) > used else None
        if kind is None or number is None:
            return Command("text", text=raw.strip())
        first, rest = number, words[used + 1:]
    if kind is None:
        return Command("malformed", number=first)
    tail = _original_tail(raw, len(rest))
    if kind == "postpone":
        when, reason = parse_when(tail)
        return Command(kind, first, reason or None, when)
    return Command(kind, first, tail or None)


def _join_marks(words: list[str]) -> list[str]:
    """"№ 1234" -> "№1234" wherever the mark stands (before the verb or after it)."""
    out: list[str] = []
    for word in words:
        if out and out[-1] in ("№", "n", "no", "#", "заявка") and word.isdigit():
            out[-1] += word
        else:
            out.append(word)
    return out


def _rating(words: list[str]) -> int | None:
    """The score of a message that is only a number with rating or polite words ("5 спасибо", "оценка 7",
    "5 из 5"); None for anything else."""
    rest = [w for w in words if w not in RATING_WORDS]
    if len(rest) == 3 and rest[1] == "из" and rest[2] == "5":
        rest = rest[:1]
    return int(rest[0]) if len(rest) == 1 and rest[0].isdigit() else None


def _original_tail(raw: str, count: int) -> str:
    """The last ``count`` words of the message as the sender wrote them (a reason keeps its case)."""
    if count <= 0:
        return ""
    words = raw.strip().split()
    return " ".join(words[-count:]).strip(" .,;")


def parse_when(text: str) -> tuple[When | None, str]:
    """A date and/or time in ``text`` (28.11, 28.11.2026, завтра, послезавтра, 10:00, в 10) and the rest."""
    low = text.lower().replace("ё", "е")
    day, relative, at, spans = None, None, None, []
    match = _DATE.search(low)
    if match:
        d, m, y = match.groups()
        year = (2000 + int(y) if y and len(y) == 2 else int(y)) if y else None
        try:
            day = date(year or 2000, int(m), int(d)) if year else date(2000, int(m), int(d))
        except ValueError:
            day = None
        if day is not None:
            day = day if year else date(1, day.month, day.day)  # year 1: "the next such date"
            spans.append(match.span())
    for word, offset in (("послезавтра", 2), ("завтра", 1), ("сегодня", 0)):
        index = low.find(word)
        if index >= 0 and day is None:
            relative = offset
            spans.append((index, index + len(word)))
            break
    tmatch = _TIME.search(_blank(low, spans))
    if tmatch:
        hours, minutes = (int(tmatch.group(1)), int(tmatch.group(2))) if tmatch.group(1) else (int(tmatch.group(3)), 0)
        if hours < 24 and minutes < 60:
            at = time(hours, minutes)
            spans.append(tmatch.span())
    if day is None and relative is None and at is None:
        return None, text.strip()
    rest = " ".join(_blank(text, spans).split()).strip(" .,;-")
    rest = re.sub(r"^(?:до|на|в)(?:\s+|$)", "", rest, flags=re.IGNORECASE).strip(" .,;-")
    return When(day, relative, at), rest


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            chars[i] = " "
    return "".join(chars)


def resolve(when: When, now_local: datetime, default_time: time = time(10, 0)) -> datetime:
    """The moment ``when`` names, in the organisation's zone (``now_local`` is aware). A bare date is that day at
    ``default_time``; a date without a year is its next occurrence; a bare time that has passed is tomorrow."""
    tz = now_local.tzinfo
    at = when.at or default_time
    if when.day is not None:
        if when.day.year == 1:
            candidate = when.day.replace(year=now_local.year)
            if datetime.combine(candidate, at, tz) <= now_local:
                candidate = candidate.replace(year=now_local.year + 1)
        else:
            candidate = when.day
        return datetime.combine(candidate, at, tz)
    day = now_local.date() + timedelta(days=when.relative_days or 0)
    moment = datetime.combine(day, at, tz)
    if when.relative_days is None and moment <= now_local:
        moment += timedelta(days=1)
    return moment
