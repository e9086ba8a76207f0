"""WER normalisation shared by the tests and bench/transcribe.py: lowercase, ё->е, digits as words, no punctuation."""
from __future__ import annotations

import re

_UNITS = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"]
_TEENS = ["десять", "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать",
          "семнадцать", "восемнадцать", "девятнадцать"]
_TENS = ["", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят",
         "девяносто"]
_HUNDREDS = ["", "сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот",
             "девятьсот"]


def number_words(n: int) -> str:
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 100:
        return " ".join(w for w in (_TENS[n // 10], _UNITS[n % 10] if n % 10 else "") if w)
    if n < 1000:
        return " ".join(w for w in (_HUNDREDS[n // 100], number_words(n % 100) if n % 100 else "") if w)
    return " ".join(str(d) for d in str(n))


def normalise(text: str) -> str:
    text = text.lower().replace("ё", "е")
    text = re.sub(r"\d+", lambda m: " " + number_words(int(m.group())) + " ", text)
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())
