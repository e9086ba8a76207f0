"""The organisation and what it manages: places, people, work types and who is responsible for what.

Plain classes; storage maps them to tables imperatively, so nothing here knows about SQLAlchemy.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ValidationError
from .worktypes import ROLES, check_choice, check_code

_ORG_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
_SIP_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_SIP_RESERVED = re.compile(r"^(dispatch|dispatchers(-[0-9]+)?|to-.*)$")  # the hotline's own routing words


def _text(value, field: str, *, max_len: int = 200, required: bool = True) -> str | None:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if not text:
        if required:
            raise ValidationError(f"'{field}' is required.", field=field)
        return None
    if len(text) > max_len:
        raise ValidationError(f"'{field}' is longer than {max_len} characters.", field=field)
    return text


def _sip_user(value) -> str | None:
    """A SIP account is the user part of a softphone's address at Kamailio: Latin letters, digits and _ . + -,
    and not one of the words the hotline routes by itself (telephony/kamailio.py)."""
    text = _text(value, "sip_account", max_len=64, required=False)
    if text is not None and (not _SIP_USER.match(text) or _SIP_RESERVED.match(text)):
        raise ValidationError(f"'sip_account' '{text}' is not usable as a SIP login: use Latin letters, digits and "
                              "_ . + - (e.g. ivanov), not dispatch, dispatchers or to-...", field="sip_account")
    return text


def _count(value, field: str, *, minimum: int = 1, maximum: int = 100_000) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"'{field}' must be a whole number, got '{value}'.", field=field) from None
    if isinstance(value, float) and not value.is_integer():
        raise ValidationError(f"'{field}' must be a whole number, got '{value}'.", field=field)
    if not minimum <= number <= maximum:
        raise ValidationError(f"'{field}' must be between {minimum} and {maximum}, got {number}.", field=field)
    return number


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"'{name}' is not a known time zone; use an IANA name such as Europe/Moscow.",
                              field="timezone") from None
    return name


class Organisation:
    """A management company (УК): the tenant. Its data never mixes with another's."""

    def __init__(self, code: str, name: str, timezone: str = "Europe/Moscow", phone_region: str = "RU"):
        if not _ORG_CODE.match(code or ""):
            raise ValidationError(f"'{code}' is not a valid organisation code: 2-32 lowercase latin letters, "
                                  "digits, '-' or '_'.", field="code")
        self.code = code
        self.name = _text(name, "name")
        self.timezone = check_timezone(timezone)
        self.phone_region = phone_region

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class City:
    def __init__(self, org_id: int, name: str):
        self.org_id = org_id
        self.name = _text(name, "city")


class HousingComplex:
    def __init__(self, org_id: int, city_id: int, name: str):
        self.org_id = org_id
        self.city_id = city_id
        self.name = _text(name, "complex")


class Building:
    def __init__(self, org_id: int, code: str, city_id: int, street: str, house: str, *, korpus: str | None = None,
                 complex_id: int | None = None, entrances=1, floors=1, apartments=1):
        self.org_id = org_id
        self.code = _text(code, "building_id", max_len=64)
        self.city_id = city_id
        self.complex_id = complex_id
        self.street = _text(street, "street")
        self.house = _text(house, "house", max_len=20)
        self.korpus = _text(korpus, "korpus", max_len=20, required=False)
        self.entrances = _count(entrances, "entrances", maximum=100)
        self.floors = _count(floors, "floors", maximum=200)
        self.apartments = _count(apartments, "apartments", minimum=0, maximum=10_000)
        self.active = True

    def update(self, **fields) -> dict[str, tuple]:
        """Change the given fields after validation; return {field: (old, new)} for what changed."""
        checks = {
            "street": lambda v: _text(v, "street"), "house": lambda v: _text(v, "house", max_len=20),
            "korpus": lambda v: _text(v, "korpus", max_len=20, required=False),
            "entrances": lambda v: _count(v, "entrances", maximum=100),
            "floors": lambda v: _count(v, "floors", maximum=200),
            "apartments": lambda v: _count(v, "apartments", minimum=0, maximum=10_000),
            "active": bool, "city_id": int, "complex_id": lambda v: v,
        }
        changes = {}
        for name, value in fields.items():
            if name not in checks:
                raise ValidationError(f"Unknown building field '{name}'.", field=name)
            new = checks[name](value)
            if getattr(self, name) != new:
                changes[name] = (getattr(self, name), new)
                setattr(self, name, new)
        return changes

    def address(self, city_name: str | None = None) -> str:
        parts = [city_name] if city_name else []
        parts.append(f"{self.street}, д. {self.house}")
        if self.korpus:
            parts[-1] += f", корп. {self.korpus}"
        return ", ".join(parts)

    def check_place(self, apartment: int | None, entrance: int | None, floor: int | None) -> None:
        """Raise if the apartment, entrance or floor lies outside this building."""
        label = f"building {self.code}"
        if apartment is not None and not 1 <= apartment <= self.apartments:
            raise ValidationError(f"Apartment {apartment} is outside {label}: it has apartments 1-{self.apartments}.",
                                  field="apartment")
        if entrance is not None and not 1 <= entrance <= self.entrances:
            raise ValidationError(f"Entrance {entrance} is outside {label}: it has entrances 1-{self.entrances}.",
                                  field="entrance")
        if floor is not None and not -3 <= floor <= self.floors:
            raise ValidationError(f"Floor {floor} is outside {label}: it has floors -3 (basement) to {self.floors}.",
                                  field="floor")


class Resident:
    """A resident's contact: the phone is E.164, so a caller ID finds its building and apartment."""

    def __init__(self, org_id: int, phone: str, *, name: str | None = None, building_id: int | None = None,
                 apartment: int | None = None):
        self.org_id = org_id
        self.phone = phone
        self.name = _text(name, "name", required=False)
        self.building_id = building_id
        self.apartment = apartment


class Staff:
    def __init__(self, org_id: int, full_name: str, role: str, phone: str, *, sip_account: str | None = None,
                 email: str | None = None, external_id: str | None = None):
        self.org_id = org_id
        self.full_name = _text(full_name, "full_name")
        self.role = check_choice(role, ROLES, "role")
        self.phone = phone
        self.sip_account = _sip_user(sip_account)
        self.email = _text(email, "email", required=False)
        self.external_id = _text(external_id, "external_id", max_len=64, required=False)
        self.active = True
        self.last_assigned_at = None

    @property
    def short_name(self) -> str:
        """"Иванов Иван Петрович" -> "Иванов И.П.": the form used in SMS and history."""
        parts = self.full_name.split()
        return parts[0] + (" " + "".join(p[0] + "." for p in parts[1:]) if len(parts) > 1 else "")


class WorkType:
    def __init__(self, org_id: int, code: str, name: str, *, standard: bool = False):
        self.org_id = org_id
        self.code = check_code(code)
        self.name = _text(name, "name", max_len=100)
        self.standard = standard
        self.active = True


class Responsibility:
    """Building x work type -> technician, with a priority (1 = first choice)."""

    def __init__(self, org_id: int, building_id: int, work_type: str, staff_id: int, priority: int = 1):
        self.org_id = org_id
        self.building_id = building_id
        self.work_type = work_type
        self.staff_id = staff_id
        self.priority = _count(priority, "priority", maximum=100)


class Shift:
    """A period when a staff member is at work or on call. The deadline/assignment issue builds rotas on it."""

    KINDS = ("shift", "on_call")

    def __init__(self, org_id: int, staff_id: int, starts_at: datetime, ends_at: datetime, kind: str = "shift"):
        if ends_at <= starts_at:
            raise ValidationError("A shift must end after it starts.", field="ends_at")
        self.org_id = org_id
        self.staff_id = staff_id
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.kind = check_choice(kind, self.KINDS, "kind")


class Absence:
    KINDS = ("vacation", "sick_leave", "day_off")

    def __init__(self, org_id: int, staff_id: int, starts_at: datetime, ends_at: datetime, kind: str):
        if ends_at <= starts_at:
            raise ValidationError("An absence must end after it starts.", field="ends_at")
        self.org_id = org_id
        self.staff_id = staff_id
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.kind = check_choice(kind, self.KINDS, "kind")
