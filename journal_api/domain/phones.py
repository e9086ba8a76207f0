"""Phone numbers are stored in E.164. Parsing is pure (phonenumbers does no I/O)."""
from __future__ import annotations

import functools

import phonenumbers

from .errors import InvalidPhone

DEFAULT_REGION = "RU"


def normalize_phone(raw: str | None, *, region: str = DEFAULT_REGION, field: str = "phone") -> str:
    """Return the number in E.164 or raise InvalidPhone with a message that says what to fix."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("A phone number is required.", field=field)
    e164 = _e164(text, region)
    if e164 is _UNPARSABLE:
        raise InvalidPhone(f"'{raw}' is not a phone number. Use the form +7 912 345-67-89.", field=field)
    if e164 is _INVALID:
        raise InvalidPhone(f"'{raw}' is not a valid phone number. Use the form +7 912 345-67-89.", field=field)
    return e164


_UNPARSABLE, _INVALID = object(), object()


@functools.lru_cache(maxsize=4096)
def _e164(text: str, region: str):
    """E.164 of a stripped number, or one of the two markers. Cached: parsing and validating cost about 50 us, and
    the same callers ring again (a burst pipe brings many calls from one staircase, a resident calls back)."""
    # Russian habit: 8XXXXXXXXXX means +7XXXXXXXXXX.
    digits = "".join(ch for ch in text if ch.isdigit())
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return _UNPARSABLE
    if not phonenumbers.is_valid_number(number):
        return _INVALID
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def maybe_phone(raw: str | None, *, region: str = DEFAULT_REGION, field: str = "phone") -> str | None:
    if raw is None or not str(raw).strip():
        return None
    return normalize_phone(raw, region=region, field=field)
