"""Russian text to tokens for extraction: lowercase, ё→е, hesitations dropped, lemmas (pymorphy3), numbers spoken
as words (cardinal or ordinal, any case) folded into one number token, phone numbers and clock times masked so that
they are never taken for a house or an apartment."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

UNITS = {"ноль": 0, "нуль": 0, "один": 1, "два": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6, "семь": 7,
         "восемь": 8, "девять": 9}
TEENS = {"десять": 10, "одиннадцать": 11, "двенадцать": 12, "тринадцать": 13, "четырнадцать": 14,
         "пятнадцать": 15, "шестнадцать": 16, "семнадцать": 17, "восемнадцать": 18, "девятнадцать": 19}
TENS = {"двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60, "семьдесят": 70,
        "восемьдесят": 80, "девяносто": 90}
HUNDREDS = {"сто": 100, "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600,
            "семьсот": 700, "восемьсот": 800, "девятьсот": 900}
ORD_UNITS = {"нулевой": 0, "первый": 1, "второй": 2, "третий": 3, "четвертый": 4, "пятый": 5, "шестой": 6,
             "седьмой": 7, "восьмой": 8, "девятый": 9}
ORD_TEENS = {"десятый": 10, "одиннадцатый": 11, "двенадцатый": 12, "тринадцатый": 13, "четырнадцатый": 14,
             "пятнадцатый": 15, "шестнадцатый": 16, "семнадцатый": 17, "восемнадцатый": 18, "девятнадцатый": 19}
ORD_TENS = {"двадцатый": 20, "тридцатый": 30, "сороковой": 40, "пятидесятый": 50, "шестидесятый": 60,
            "семидесятый": 70, "восьмидесятый": 80, "девяностый": 90}
ORD_HUNDREDS = {"сотый": 100, "двухсотый": 200, "трехсотый": 300, "четырехсотый": 400, "пятисотый": 500,
                "шестисотый": 600, "семисотый": 700, "восьмисотый": 800, "девятисотый": 900}
HESITATIONS = {"э", "ээ", "эээ", "эм", "эмм", "мм", "ммм", "хм", "ну", "вот", "короче", "значит", "типа", "алло",
               "алле", "але", "слушайте", "пожалуйста", "здравствуйте", "добрый", "уважаемый"}
# a number followed by one of these is a time, a count or an amount, not part of an address
NOT_ADDRESS_UNITS = {"час", "минута", "секунда", "утро", "вечер", "ночь", "день", "сутки", "неделя", "месяц", "год",
                     "раз", "рубль", "градус", "метр", "сантиметр", "человек", "штука", "процент", "лет", "мин",
                     "сек", "ч", "января", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь",
                     "октябрь", "ноябрь", "декабрь", "январь", "число", "литр", "копейка", "звонок"}
PHONE_RE = re.compile(r"(?:\+7|\b8|\b7)[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}\b")
TIME_RE = re.compile(r"\b\d{1,2}[:.]\d{2}\b(?!\s*(?:кв|квартир))")
GLUED_RE = re.compile(r"(\d+)\s*-?\s*(й|я|е|го|му|м|ом|ая|ой|ый|ий|ым|ью)\b")
SPLIT_RE = re.compile(r"(\d+)([а-я]+)|([а-я]+)\.?(\d+)")
TOKEN_RE = re.compile(r"<phone>|<time>|\d+|[а-яa-z]+(?:-[а-яa-z]+)?|/")


@dataclass
class Tok:
    text: str
    lemma: str
    pos: str | None = None
    case: str | None = None
    num: int | None = None
    ordinal: bool = False
    spoken: bool = False  # the number was spoken as words
    parts: tuple = ()  # (value, ordinal) of each spoken word of the number
    alts: frozenset = frozenset()  # every lemma pymorphy3 offers ("холодные": холодное, холодный)

    def __post_init__(self):
        if not self.alts:
            self.alts = frozenset((self.lemma,))
    masked: str | None = None  # "phone" | "time"

    @property
    def is_num(self) -> bool:
        return self.num is not None and self.masked is None


@functools.lru_cache(maxsize=1)
def morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@functools.lru_cache(maxsize=50000)
def analyse(word: str) -> tuple[str, str | None, str | None]:
    p = morph().parse(word)[0]
    return p.normal_form.replace("ё", "е"), p.tag.POS, p.tag.case


@functools.lru_cache(maxsize=50000)
def alternatives(word: str) -> frozenset:
    return frozenset(p.normal_form.replace("ё", "е") for p in morph().parse(word)) | {word}


def lemma(word: str) -> str:
    return analyse(word)[0]


def _clean(text: str) -> str:
    text = text.lower().replace("ё", "е").replace("№", " номер ")
    text = PHONE_RE.sub(" <phone> ", text)
    text = TIME_RE.sub(" <time> ", text)
    text = GLUED_RE.sub(r"\1", text)  # "12-й", "5-ом" -> the number (ordinal use is clear from context)
    text = re.sub(r"(\d+)\s*/\s*(\d+)", r"\1 / \2", text)
    text = re.sub(r"\bдробь\b", " / ", text)
    text = SPLIT_RE.sub(lambda m: f"{m.group(1)} {m.group(2)}" if m.group(1) else f"{m.group(3)} {m.group(4)}",
                        text)
    return text


def _word_value(lem: str) -> tuple[int, str, bool] | None:
    """(value, rank, ordinal) of a number word's lemma; rank orders the parts of one number."""
    for table, rank, ordinal in ((HUNDREDS, "h", False), (TENS, "t", False), (TEENS, "e", False),
                                 (UNITS, "u", False), (ORD_HUNDREDS, "h", True), (ORD_TENS, "t", True),
                                 (ORD_TEENS, "e", True), (ORD_UNITS, "u", True)):
        if lem in table:
            return table[lem], rank, ordinal
    return None


_NEXT = {"h": ("t", "e", "u"), "t": ("u",), "e": (), "u": ()}


def tokens(text: str) -> list[Tok]:
    raw = TOKEN_RE.findall(_clean(text))
    out: list[Tok] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        if word in ("<phone>", "<time>"):
            out.append(Tok(word, word, masked=word.strip("<>")))
            i += 1
            continue
        if word.isdigit():
            out.append(Tok(word, word, pos="NUMB", num=int(word)))
            i += 1
            continue
        if word in HESITATIONS:
            i += 1
            continue
        lem, pos, case = analyse(word)
        value = _word_value(lem) if word not in ("раз",) else None
        if value is None:
            out.append(Tok(word, lem, pos, case, alts=alternatives(word)))
            i += 1
            continue
        total, rank, ordinal = value
        parts = [word]
        values = [(value[0], value[2])]
        j = i + 1
        while not ordinal and j < len(raw):
            nxt = _word_value(lemma(raw[j])) if raw[j].isalpha() else None
            if nxt is None or nxt[1] not in _NEXT[rank]:
                break
            total, rank, ordinal = total + nxt[0], nxt[1], nxt[2]
            parts.append(raw[j])
            values.append((nxt[0], nxt[2]))
            j += 1
        out.append(Tok(" ".join(parts), str(total), "NUMB", case, num=total, ordinal=ordinal, spoken=True,
                       parts=tuple(values)))
        i = j
    _mask_spoken_phones(out)
    _mask_units(out)
    return out


def _mask_spoken_phones(toks: list[Tok]) -> None:
    """A run of number tokens with 10+ digits in all ("восемь девятьсот двенадцать ...") is a phone number; so is
    every number right after "телефон"."""
    i = 0
    while i < len(toks):
        if toks[i].is_num:
            j = i
            while j < len(toks) and toks[j].is_num and not toks[j].ordinal:
                j += 1
            digits = sum(len(str(t.num)) for t in toks[i:j])
            after_phone_word = i > 0 and toks[i - 1].lemma in ("телефон", "номер", "мобильный", "сотовый") and (
                i < 2 or toks[i - 2].lemma != "дом") and digits >= 5
            if digits >= 10 or after_phone_word:
                for t in toks[i:j]:
                    t.masked = "phone"
            i = max(j, i + 1)
        else:
            i += 1


def _mask_units(toks: list[Tok]) -> None:
    for i, t in enumerate(toks):
        if t.is_num and i + 1 < len(toks) and toks[i + 1].lemma in NOT_ADDRESS_UNITS:
            t.masked = "time"
        if t.is_num and i > 0 and toks[i - 1].lemma in ("с", "до", "после", "около", "примерно") and \
                i + 1 < len(toks) and toks[i + 1].lemma in NOT_ADDRESS_UNITS | {"до"}:
            t.masked = "time"
