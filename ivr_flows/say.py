"""Numbers and dates as prompt ids. The human-voiced Asterisk RU set (``digits/*``) has 0-20, the tens, "сто",
"тысяча"/"тысячи", "миллион"/"миллиона", "часов" and the months in the genitive ("ноября"). What it lacks is
synthesised at install time under ``num/`` (see prompts/catalogue.yaml): "одна", "две", 200-900, "тысяч",
"миллионов", "час", "часа", "минута", "минуты", "минут".

Its ``digits/h-*`` files are nominative ordinals ("восемнадцатый"), which fit neither "18 часов" nor a date in the
genitive, so a date is said with cardinals: "до восемнадцати часов" would need other case forms the set lacks;
"18 часов 26 ноября" ("восемнадцать часов двадцать шесть ноября") is what callers hear from most Russian IVRs."""
from __future__ import annotations

from datetime import datetime

ONES_FEMININE = {1: "num/1f", 2: "num/2f"}
ONES_NEUTER = {1: "digits/1n"}
SCALES = (  # value, one, few, many, gender of the counted word
    (1_000_000, "digits/million", "digits/h-million", "num/millions", "m"),
    (1_000, "digits/thousand", "digits/h-thousand", "num/thousands", "f"),
)


def plural(n: int) -> str:
    """Russian plural class of n: one (1, 21), few (2-4, 22-24), many (0, 5-20, 25...)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


def number_prompts(n: int, digits: bool = False, gender: str = "m") -> list[str]:
    """Prompt ids saying n: digit by digit ("1 2 3 4" for a request number) or as a numeral with the gender of
    what it counts (m: "один час", f: "одна минута", n: "одно"). Beyond 999 999 999 it is said digit by digit."""
    n = int(n)
    if digits or abs(n) >= 1_000_000_000:
        return (["digits/minus"] if n < 0 else []) + [f"digits/{ch}" for ch in str(abs(n))]
    if n == 0:
        return ["digits/0"]
    out = ["digits/minus"] if n < 0 else []
    n = abs(n)
    for value, one, few, many, scale_gender in SCALES:
        count, n = divmod(n, value)
        if count:
            if not (count == 1 and value == 1_000):  # "тысяча", not "одна тысяча"
                out += _below_thousand(count, scale_gender)
            out.append({"one": one, "few": few, "many": many}[plural(count)])
    if n:
        out += _below_thousand(n, gender)
    return out


def _below_thousand(n: int, gender: str) -> list[str]:
    out = []
    hundreds, rest = divmod(n, 100)
    if hundreds == 1:
        out.append("digits/hundred")
    elif hundreds:
        out.append(f"num/{hundreds}00")
    if 10 <= rest <= 19:
        return out + [f"digits/{rest}"]
    tens, ones = divmod(rest, 10)
    if tens:
        out.append(f"digits/{tens}0")
    if ones:
        special = ONES_FEMININE if gender == "f" else ONES_NEUTER if gender == "n" else {}
        out.append(special.get(ones, f"digits/{ones}"))
    return out


HOUR_WORD = {"one": "num/hour", "few": "num/hours", "many": "digits/oclock"}
MINUTE_WORD = {"one": "num/minute", "few": "num/minutes_few", "many": "num/minutes"}


def time_prompts(hour: int, minute: int = 0) -> list[str]:
    """"18 часов", "21 час", "9 часов 30 минут"."""
    out = number_prompts(hour) + [HOUR_WORD[plural(hour)]]
    if minute:
        out += number_prompts(minute, gender="f") + [MINUTE_WORD[plural(minute)]]
    return out


def date_prompts(day: int, month: int) -> list[str]:
    """"26 ноября": the day as a cardinal, the month in the genitive (``digits/mon-0`` is January)."""
    return number_prompts(day) + [f"digits/mon-{month - 1}"]


def datetime_prompts(local_dt: datetime | str) -> list[str]:
    """A deadline in the organisation's local time: "18 часов 26 ноября" (minutes only when not zero)."""
    if isinstance(local_dt, str):
        local_dt = datetime.fromisoformat(local_dt)
    return time_prompts(local_dt.hour, local_dt.minute) + date_prompts(local_dt.day, local_dt.month)
