"""Work schedules: rota patterns, the checks of shifts and absences, and who is at work when.

Pure: plain data in, plain data out. Patterns are laid out on the wall clock of the organisation's time zone
(zoneinfo) and come out as timezone-aware UTC datetimes. Shifts and absences are read by their attributes
(staff_id, starts_at, ends_at, kind), so registry.Shift, registry.Absence and Slot all fit.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from .errors import Conflict, ValidationError
from .registry import check_timezone
from .worktypes import check_choice

SHIFT, ON_CALL = "shift", "on_call"
DUTIES = (SHIFT, ON_CALL)  # on_call: дежурство на дому
DAYS = ("working", "non_working", "all")
MAX_DAYS = 400  # one call lays out at most about a year
_SHOWN = "%Y-%m-%d %H:%M"


class ShiftOverlap(Conflict):
    code = "shift_overlap"


class Slot(NamedTuple):
    """One generated period of work of one person."""

    staff_id: int
    starts_at: datetime
    ends_at: datetime
    kind: str


@dataclass(frozen=True)
class Rota:
    """A shift of `hours` from `start` (local) on every `every_days`-th day counted from `first_day`.

    "Сутки через трое" is Rota(first_day, time(8), hours=24, every_days=4); "сутки через двое" has every_days=3.
    """

    first_day: date
    start: time = time(8)
    hours: int = 24
    every_days: int = 4
    kind: str = SHIFT

    def __post_init__(self):
        check_choice(self.kind, DUTIES, "kind")
        _local(self.start, "start")
        if not isinstance(self.first_day, date) or isinstance(self.first_day, datetime):
            raise ValidationError(f"'first_day' must be a date, got {self.first_day!r}.", field="first_day")
        _whole(self.every_days, "every_days", 1, 28)
        _whole(self.hours, "hours", 1, 24 * self.every_days)

    def days(self, day: date, is_working_day) -> bool:
        return (day - self.first_day).days % self.every_days == 0

    def period(self, day: date) -> tuple[datetime, datetime]:
        starts = datetime.combine(day, self.start)
        return starts, starts + timedelta(hours=self.hours)


@dataclass(frozen=True)
class Daily:
    """From `start` to `end` (local) on each working, non-working or every day. An end at or before the start falls
    on the next day, so time(17)-time(8) is a night and time(8)-time(8) is a full day."""

    start: time = time(8)
    end: time = time(17)
    on: str = "working"
    kind: str = SHIFT

    def __post_init__(self):
        check_choice(self.kind, DUTIES, "kind")
        check_choice(self.on, DAYS, "on")
        _local(self.start, "start")
        _local(self.end, "end")

    def days(self, day: date, is_working_day) -> bool:
        if self.on == "all":
            return True
        if is_working_day is None:
            raise ValueError(f"A pattern on {self.on} days needs the calendar: pass is_working_day.")
        return is_working_day(day) == (self.on == "working")

    def period(self, day: date) -> tuple[datetime, datetime]:
        ends_day = day if self.end > self.start else day + timedelta(days=1)
        return datetime.combine(day, self.start), datetime.combine(ends_day, self.end)


Pattern = Rota | Daily


def one_day_in_four(first_day: date, start: time = time(8), kind: str = SHIFT) -> Rota:
    """Сутки через трое: 24 hours on, 72 off."""
    return Rota(first_day, start, 24, 4, kind)


def one_day_in_three(first_day: date, start: time = time(8), kind: str = SHIFT) -> Rota:
    """Сутки через двое: 24 hours on, 48 off."""
    return Rota(first_day, start, 24, 3, kind)


def day_shift(start: time = time(8), end: time = time(17)) -> Daily:
    return Daily(start, end, "working", SHIFT)


def on_call_at_home(day_start: time = time(8), day_end: time = time(17)) -> tuple[Daily, Daily]:
    """Дежурство на дому outside working hours: nights after working days and whole non-working days."""
    return Daily(day_end, day_start, "working", ON_CALL), Daily(day_start, day_start, "non_working", ON_CALL)


def pattern_from_dict(data: dict) -> Pattern:
    """{"type": "rota", "first_day": "2026-03-01", "start": "08:00", "hours": 24, "every_days": 4, "kind": "shift"}
    or {"type": "daily", "start": "08:00", "end": "17:00", "on": "working", "kind": "shift"}."""
    fields = dict(data or {})
    kind = fields.pop("type", None)
    try:
        if kind == "rota":
            return Rota(first_day=_parse(date.fromisoformat, fields.pop("first_day", None), "first_day"),
                        start=_parse(time.fromisoformat, fields.pop("start", "08:00"), "start"), **fields)
        if kind == "daily":
            return Daily(start=_parse(time.fromisoformat, fields.pop("start", "08:00"), "start"),
                         end=_parse(time.fromisoformat, fields.pop("end", "17:00"), "end"), **fields)
    except TypeError as e:
        raise ValidationError(f"Unknown field in a '{kind}' pattern: {e}.", field="pattern") from None
    raise ValidationError(f"'{kind}' is not a pattern type. Use 'rota' or 'daily'.", field="type")


def pattern_to_dict(pattern: Pattern) -> dict:
    if isinstance(pattern, Rota):
        return {"type": "rota", "first_day": pattern.first_day.isoformat(), "start": pattern.start.strftime("%H:%M"),
                "hours": pattern.hours, "every_days": pattern.every_days, "kind": pattern.kind}
    return {"type": "daily", "start": pattern.start.strftime("%H:%M"), "end": pattern.end.strftime("%H:%M"),
            "on": pattern.on, "kind": pattern.kind}


def generate(pattern: Pattern | Iterable[Pattern], staff_id: int, start_date: date, end_date: date, tz,
             *, is_working_day: Callable[[date], bool] | None = None) -> list[Slot]:
    """The slots of one person whose local start day lies in [start_date, end_date], in time order.

    Wall-clock arithmetic: a 24-hour shift from 08:00 ends at 08:00 local the next day, whatever the offset does.
    """
    patterns = (pattern,) if isinstance(pattern, (Rota, Daily)) else tuple(pattern)
    zone = ZoneInfo(check_timezone(str(tz)))
    if end_date < start_date:
        raise ValidationError(f"The period ends ({end_date}) before it starts ({start_date}).", field="end_date")
    if (end_date - start_date).days >= MAX_DAYS:
        raise ValidationError(f"Lay out at most {MAX_DAYS} days at once.", field="end_date")
    slots = []
    for offset in range((end_date - start_date).days + 1):
        day = start_date + timedelta(days=offset)
        for item in patterns:
            if item.days(day, is_working_day):
                starts, ends = item.period(day)
                slots.append(Slot(staff_id, _utc(starts, zone), _utc(ends, zone), item.kind))
    return sorted(slots, key=lambda s: (s.starts_at, s.ends_at))


def check_no_overlap(shifts: Iterable, tz="UTC") -> None:
    """Refuse two shifts of one person that overlap (back to back is fine); the message names both periods."""
    zone = ZoneInfo(check_timezone(str(tz)))
    for staff_id, own in _by_staff(shifts).items():
        latest = None
        for shift in sorted(own, key=lambda s: (s.starts_at, s.ends_at)):
            check_period(shift.starts_at, shift.ends_at, "shift")
            if latest is not None and shift.starts_at < latest.ends_at:
                raise ShiftOverlap(
                    f"Shifts of staff {staff_id} overlap: {_show(latest, zone)} and {_show(shift, zone)} "
                    f"({zone.key}). Move or delete one of them.", field="starts_at",
                    details={"staff_id": staff_id, "periods": [_iso(latest), _iso(shift)]})
            if latest is None or shift.ends_at > latest.ends_at:
                latest = shift


def check_period(starts_at: datetime, ends_at: datetime, what: str) -> None:
    for value, field in ((starts_at, "starts_at"), (ends_at, "ends_at")):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValidationError(f"The {what}'s '{field}' must be a date and time with a time zone, got {value!r}.",
                                  field=field)
    if ends_at <= starts_at:
        raise ValidationError(f"The {what} ends ({ends_at.isoformat()}) before or when it starts "
                              f"({starts_at.isoformat()}); it must end after it starts.", field="ends_at")


def check_absence(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """An absence may be entered ahead of time or while it lasts (sick since this morning); not once it is over."""
    check_period(starts_at, ends_at, "absence")
    if ends_at <= now:
        raise ValidationError(f"The absence {starts_at.isoformat()} - {ends_at.isoformat()} is already over; enter "
                              "absences ahead of time or while they last.", field="ends_at")


def absence_at(absences: Iterable, staff_id: int, at: datetime) -> str | None:
    """The kind of the absence of this person at `at` (vacation, sick_leave, day_off), or None."""
    kinds = sorted(a.kind for a in absences if a.staff_id == staff_id and _covers(a, at))
    return kinds[0] if kinds else None


def is_absent(absences: Iterable, staff_id: int, at: datetime) -> bool:
    return absence_at(absences, staff_id, at) is not None


def on_shift(shifts: Iterable, absences: Iterable, at: datetime, kind: str = SHIFT) -> set[int]:
    """Who is at work (or on call, with kind=ON_CALL) at `at` and not absent."""
    away = {a.staff_id for a in absences if _covers(a, at)}
    return {s.staff_id for s in shifts if s.kind == kind and _covers(s, at) and s.staff_id not in away}


def on_shift_before(shifts: Iterable, absences: Iterable, start: datetime, deadline: datetime,
                    kind: str = SHIFT) -> set[int]:
    """Who is at work, and not absent, at some moment in [start, deadline)."""
    shifts_of, absences_of = _by_staff(shifts), _by_staff(absences)
    return {staff_id for staff_id, own in shifts_of.items()
            if first_available(own, absences_of.get(staff_id, ()), staff_id, start, deadline, kind) is not None}


def first_available(shifts: Iterable, absences: Iterable, staff_id: int, start: datetime, until: datetime,
                    kind: str = SHIFT) -> datetime | None:
    """The first moment in [start, until) when this person is on a shift of `kind` and not absent, or None."""
    away = sorted((a for a in absences if a.staff_id == staff_id), key=lambda a: a.starts_at)
    moments = []
    for shift in shifts:
        if shift.staff_id == staff_id and shift.kind == kind and shift.starts_at < until and shift.ends_at > start:
            moment = _free_from(max(shift.starts_at, start), away)
            if moment < min(shift.ends_at, until):
                moments.append(moment)
    return min(moments, default=None)


@dataclass(frozen=True)
class Availability:
    """One person's schedule state for an assignment decided at `now` with candidates looked for until `until`."""

    on_shift_now: bool = False
    on_call_now: bool = False
    on_shift_from: datetime | None = None  # first moment on shift, not absent, in [now, until)
    absence: str | None = None  # the kind of absence at now


def availability(shifts: Iterable, absences: Iterable, staff_id: int, now: datetime, until: datetime) -> Availability:
    shifts, absences = list(shifts), list(absences)
    absence = absence_at(absences, staff_id, now)
    present = absence is None
    return Availability(
        on_shift_now=present and any(_own(s, staff_id, SHIFT) and _covers(s, now) for s in shifts),
        on_call_now=present and any(_own(s, staff_id, ON_CALL) and _covers(s, now) for s in shifts),
        on_shift_from=first_available(shifts, absences, staff_id, now, until),
        absence=absence)


def _free_from(moment: datetime, away: list) -> datetime:
    """Push `moment` past every absence (sorted by start) that covers it."""
    for absence in away:
        if absence.starts_at <= moment < absence.ends_at:
            moment = absence.ends_at
    return moment


def _own(shift, staff_id: int, kind: str) -> bool:
    return shift.staff_id == staff_id and shift.kind == kind


def _covers(period, at: datetime) -> bool:
    return period.starts_at <= at < period.ends_at


def _by_staff(periods: Iterable) -> dict[int, list]:
    grouped = defaultdict(list)
    for period in periods:
        grouped[period.staff_id].append(period)
    return grouped


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(timezone.utc)


def _show(period, zone: ZoneInfo) -> str:
    return (f"{period.kind} {period.starts_at.astimezone(zone).strftime(_SHOWN)}"
            f"-{period.ends_at.astimezone(zone).strftime(_SHOWN)}")


def _iso(period) -> dict:
    return {"starts_at": period.starts_at.isoformat(), "ends_at": period.ends_at.isoformat(), "kind": period.kind}


def _local(value, field: str) -> None:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise ValidationError(f"'{field}' must be a local time of day without a time zone, got {value!r}.",
                              field=field)


def _whole(value, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"'{field}' must be a whole number from {low} to {high}, got {value!r}.", field=field)


def _parse(parse, value, field: str):
    try:
        parsed = parse(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or getattr(parsed, "tzinfo", None) is not None:
        raise ValidationError(f"'{field}' must be an ISO date or a local time such as 08:00, got {value!r}.",
                              field=field)
    return parsed
