"""Calls and recordings as the journal keeps them (issue 4). Pure: no I/O."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

DIRECTIONS = ("in", "out", "internal")
STATUSES = ("ringing", "answered", "missed", "abandoned", "over_capacity", "failed")
FINAL_STATUSES = ("answered", "missed", "abandoned", "over_capacity", "failed")
RECORDING_KINDS = ("call", "description", "voicemail")
# ПП 416 п.13: a call not answered in time is called back within 10 minutes; a voice message is reviewed within 10.
CALLBACK_WITHIN = timedelta(minutes=10)
# Calls that ask for a callback by themselves when they end (the caller got no human and no request).
CALLBACK_STATUSES = ("missed", "abandoned", "over_capacity")
CALLBACK_REASONS = ("missed", "abandoned", "over_capacity", "voicemail", "abandoned_in_queue", "registration_failed")


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"'{status}' is not a call status; use one of: {', '.join(STATUSES)}")
    return status


def callback_due(at: datetime) -> datetime:
    return at + CALLBACK_WITHIN


def house_number(house: str | None) -> int | None:
    """The leading digits of a house ("12к2" -> 12): what a caller can key in on a phone."""
    match = re.match(r"\s*(\d+)", house or "")
    return int(match.group(1)) if match else None


def address_text(street: str, house: str, korpus: str | None) -> str:
    return f"{street}, д. {house}" + (f", корп. {korpus}" if korpus else "")


def did_matches(did: str | None, candidates) -> bool:
    """A dialled number matches an organisation's DID when their last 10 digits agree (+7 495 ..., 8495..., 495...);
    shorter numbers (internal extensions) must match exactly."""
    digits = re.sub(r"\D", "", did or "")
    if not digits:
        return False
    for candidate in candidates or []:
        other = re.sub(r"\D", "", str(candidate))
        if other and (other == digits or (len(digits) >= 10 and len(other) >= 10 and other[-10:] == digits[-10:])):
            return True
    return False
