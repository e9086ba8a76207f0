"""The Russian production calendar (производственный календарь): which days are working days.

A year is data: the public holidays of ТК РФ ст. 112, the weekdays that became days off (moved by the Government's
yearly decree, or by ТК РФ ст. 112 ч. 2 when a holiday falls on a weekend), and the Saturdays and Sundays that became
working days. The files live in journal_api/rules/calendar/ru-YYYY.yaml.

A year without a confirmed decree is computed from the Labour Code alone (:func:`statutory_year`); the calendar warns
once per year when it has to rely on such a year, because the decree may still move days.

"N working days" (ПП 416) is counted as the law counts periods (ГК РФ ст. 191, 194): from the day after the
registration, and the period ends at 24:00 of the N-th working day, in the organisation's time zone. The deadline is
that instant: 00:00 of the next calendar day.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ValidationError

SATURDAY = 5

# ТК РФ ст. 112 ч. 1: month, day. January 1-8 are the New Year holidays and Christmas: ч. 2 does not move them.
LABOUR_CODE_HOLIDAYS: tuple[tuple[int, int], ...] = (
    (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8),
    (2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4),
)
LABOUR_CODE = "ТК РФ ст. 112"


class CalendarWarning(UserWarning):
    """A deadline was computed with a year whose transfers of days off are not confirmed by a decree."""


def zone(tz: ZoneInfo | str) -> ZoneInfo:
    """The organisation's time zone; an unknown name is refused."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone '{tz}': use an IANA name such as 'Europe/Moscow'.",
                              field="timezone") from None


def aware(moment: datetime, name: str = "start") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"'{name}' must carry a time zone offset.", field=name)
    return moment


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """00:00 of ``day`` in ``tz``, normalised through UTC (a wall time that does not exist moves forward)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc).astimezone(tz)


def is_weekend(day: date) -> bool:
    return day.weekday() >= SATURDAY


@dataclass(frozen=True)
class CalendarYear:
    year: int
    holidays: frozenset[date]
    days_off: frozenset[date]          # weekdays that are not working days (moved days off)
    working_weekends: frozenset[date]  # Saturdays and Sundays that are working days
    source: str
    confirmed: bool
    moved_from: dict = field(default_factory=dict, compare=False)  # day off -> the day it was moved from

    def __post_init__(self):
        for name in ("holidays", "days_off", "working_weekends"):
            for day in getattr(self, name):
                if day.year != self.year:
                    raise ValidationError(f"{day.isoformat()} is not in {self.year}.", field=name)
        for day in self.days_off:
            if is_weekend(day) or day in self.holidays:
                raise ValidationError(f"{day.isoformat()} is already a day off: only a working weekday can be made "
                                      "a day off.", field="days_off")
        for day in self.working_weekends:
            if not is_weekend(day) or day in self.holidays:
                raise ValidationError(f"{day.isoformat()} must be a Saturday or Sunday that is not a holiday to be "
                                      "made a working day.", field="working_weekends")
        if not self.source.strip():
            raise ValidationError("A calendar year needs its source (the decree).", field="source")
        self._check_transfers()

    def _check_transfers(self) -> None:
        """Every moved day off comes from a holiday on a weekend or from a weekend made working, each used once;
        every working weekend gave its rest to some day off."""
        origins = list(self.moved_from.values())
        for target, origin in self.moved_from.items():
            if target not in self.days_off:
                raise ValidationError(f"{target.isoformat()} is not among the days off.", field="days_off")
            from_holiday = origin in self.holidays and is_weekend(origin)
            if origin.year != self.year or not (from_holiday or origin in self.working_weekends):
                raise ValidationError(f"{target.isoformat()} is moved from {origin.isoformat()}, which is neither a "
                                      f"holiday on a weekend nor a working weekend of {self.year}.", field="days_off")
            if origins.count(origin) > 1:
                raise ValidationError(f"{origin.isoformat()} is moved more than once.", field="days_off")
        for day in self.working_weekends:
            if day not in origins:
                raise ValidationError(f"The working {day.isoformat()} does not say which day off it was moved to.",
                                      field="working_weekends")

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays or day in self.days_off:
            return False
        return not is_weekend(day) or day in self.working_weekends

    def working_days(self) -> int:
        start, end = date(self.year, 1, 1), date(self.year + 1, 1, 1)
        return sum(self.is_working_day(start + timedelta(days=i)) for i in range((end - start).days))


def statutory_year(year: int) -> CalendarYear:
    """A year from ТК РФ ст. 112 alone: the fixed holidays, and ч. 2 (a holiday other than January 1-8 that falls on
    a weekend moves the day off to the next working day). The Government's decree may add transfers."""
    holidays = frozenset(date(year, m, d) for m, d in LABOUR_CODE_HOLIDAYS)
    moved: dict[date, date] = {}
    for holiday in sorted(holidays):
        if holiday.month == 1 or not is_weekend(holiday):
            continue
        day = holiday + timedelta(days=1)
        while is_weekend(day) or day in holidays or day in moved:
            day += timedelta(days=1)
        moved[day] = holiday
    return CalendarYear(year, holidays, frozenset(moved), frozenset(),
                        f"{LABOUR_CODE} only (holidays and ч. 2); the decree on transfers is unknown",
                        confirmed=False, moved_from=moved)


class WorkCalendar:
    """Working days over the years it knows; other years come from the Labour Code with a :class:`CalendarWarning`."""

    def __init__(self, years: Iterable[CalendarYear] = ()):
        self._years: dict[int, CalendarYear] = {}
        for item in years:
            if item.year in self._years:
                raise ValidationError(f"The year {item.year} is given twice.", field="year")
            self._years[item.year] = item
        self._fallbacks: dict[int, CalendarYear] = {}
        self._warned: set[int] = set()

    @property
    def years(self) -> tuple[int, ...]:
        """The years given as data (not the Labour Code fallbacks computed on demand)."""
        return tuple(sorted(self._years))

    def year(self, year: int) -> CalendarYear:
        known = self._years.get(year)
        if known is None:
            if year not in self._fallbacks:
                self._fallbacks[year] = statutory_year(year)
            known = self._fallbacks[year]
        if not known.confirmed and year not in self._warned:
            self._warned.add(year)
            warnings.warn(f"The production calendar of {year} is not confirmed by a decree ({known.source}); "
                          "deadlines in working days may be off by moved days.", CalendarWarning, stacklevel=3)
        return known

    def is_working_day(self, day: date) -> bool:
        return self.year(day.year).is_working_day(day)

    def next_working_day(self, day: date) -> date:
        """The first working day after ``day``."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, n: int, tz: ZoneInfo | str) -> datetime:
        """The end (24:00) of the ``n``-th working day after the local day of ``start``, as an aware datetime in
        ``tz``: 00:00 of the calendar day that follows it (ГК РФ ст. 191, 194)."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValidationError(f"A number of working days must be a whole number of at least 1, not {n!r}.",
                                  field="amount")
        tz = zone(tz)
        day = aware(start).astimezone(tz).date()
        for _ in range(n):
            day = self.next_working_day(day)
        return local_midnight(day + timedelta(days=1), tz)
