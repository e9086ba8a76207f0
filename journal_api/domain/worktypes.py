"""The standard work types. Their Russian names live in journal_api/catalogue/ru.json."""
from __future__ import annotations

import re

from .errors import ValidationError

STANDARD_WORK_TYPES: tuple[str, ...] = (
    "water", "sewerage", "heating", "electricity", "gas", "elevator",
    "roof", "rubbish_chute", "building", "intercom", "yard", "other",
)

URGENCIES = ("emergency", "normal")
CHANNELS = ("phone", "sms", "api", "dispatcher")
HISTORY_CHANNELS = CHANNELS + ("web", "system", "asr")  # asr: facts the transcription filled in (issue 5)
ROLES = ("dispatcher", "technician", "manager", "admin")

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def check_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValidationError(f"'{code}' is not a valid work type code: use 2-40 lowercase latin letters, digits "
                              "and underscores, starting with a letter.", field="code")
    return code


def check_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise ValidationError(f"'{value}' is not a valid {field}. Use one of: {', '.join(choices)}.", field=field)
    return value
