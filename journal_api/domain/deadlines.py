"""Legal deadlines as data: rules, the reasons residents name, and the computation of due times.

A :class:`Rule` gives up to two deadlines, localisation and repair. Each is a :class:`Limit`: an amount in minutes,
hours, calendar days or working days, optionally seasonal (window glass: 1 day in winter, 3 in summer), optionally
counted only inside a daily window (the rubbish chute: 08:00-23:00), and always with the clause of the law it comes
from. A :class:`RuleBook` merges the federal defaults with an organisation's overrides by key and picks the rule for
a request: the reason's rule, else the work type's default for the urgency, else the general rule.

Units: minutes and hours are elapsed time; calendar days keep the clock time (3 days from 14:20 is 14:20 three days
later, local time); working days end at 24:00 of the N-th working day (see journal_api.domain.calendar).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from .calendar import WorkCalendar, aware, zone
from .errors import ValidationError
from .request import Deadlines
from .worktypes import STANDARD_WORK_TYPES, URGENCIES

UNITS = ("minutes", "hours", "calendar_days", "working_days")
MAX_AMOUNT = {"minutes": 60 * 24 * 31, "hours": 24 * 31, "calendar_days": 366, "working_days": 250}
_RULE_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
_LEAP_YEAR = 2024


def _fail(message: str, field: str):
    raise ValidationError(message, field=field)


def _fields(data, allowed: set[str], required: set[str], where: str) -> dict:
    if not isinstance(data, Mapping):
        _fail(f"'{where}' must be a mapping of fields, not {type(data).__name__}.", where)
    unknown = set(data) - allowed
    if unknown:
        _fail(f"Unknown field(s) {', '.join(sorted(map(str, unknown)))} in '{where}'; allowed: "
              f"{', '.join(sorted(allowed))}.", where)
    missing = required - set(data)
    if missing:
        _fail(f"'{where}' lacks {', '.join(sorted(missing))}.", where)
    return dict(data)


def _text(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(f"'{where}' must be a non-empty text.", where)
    return value.strip()


# -- seasons and windows ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Season:
    """A part of every year, from one month-day to another inclusive; it may wrap over the New Year."""

    name: str
    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, day: date) -> bool:
        key = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end


def _month_day(value, where: str) -> tuple[int, int]:
    match = _MONTH_DAY.match(value) if isinstance(value, str) else None
    if not match:
        _fail(f"'{where}' must be a quoted 'MM-DD' text, not {value!r}.", where)
    month, day = int(match[1]), int(match[2])
    try:
        date(_LEAP_YEAR, month, day)
    except ValueError:
        _fail(f"'{where}': {value} is not a day of the year.", where)
    return month, day


def parse_seasons(data) -> dict[str, Season]:
    """``{name: {from: 'MM-DD', to: 'MM-DD'}}``; together the seasons cover every day of the year exactly once."""
    if not isinstance(data, Mapping) or not data:
        _fail("'seasons' must map season names to {from, to}.", "seasons")
    seasons = {}
    for name, span in data.items():
        where = f"seasons.{name}"
        span = _fields(span, {"from", "to"}, {"from", "to"}, where)
        seasons[name] = Season(name, _month_day(span["from"], f"{where}.from"), _month_day(span["to"], f"{where}.to"))
    _check_cover(seasons.values(), "seasons")
    return seasons


def _check_cover(seasons: Iterable[Season], where: str) -> None:
    seasons, day = list(seasons), date(_LEAP_YEAR, 1, 1)
    while day.year == _LEAP_YEAR:
        covering = [s.name for s in seasons if s.contains(day)]
        if len(covering) != 1:
            _fail(f"{day:%m-%d} is in {len(covering)} seasons ({', '.join(covering) or 'none'}); each day of the "
                  "year must be in exactly one.", where)
        day += timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """The daily hours when a deadline's clock runs (local time); outside them it stands still."""

    opens: time
    closes: time

    def __post_init__(self):
        if self.opens >= self.closes:
            _fail(f"A window must open before it closes ({self.opens:%H:%M}-{self.closes:%H:%M}).", "window")


def _clock(value, where: str) -> time:
    match = _HHMM.match(value) if isinstance(value, str) else None
    if not match:
        _fail(f"'{where}' must be a quoted 'HH:MM' text, not {value!r}.", where)
    return time(int(match[1]), int(match[2]))


# -- limits --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    """One deadline: ``amount`` (or seasonal amounts) of ``unit``, counted inside ``window`` if any, per ``clause``."""

    unit: str
    clause: str
    amount: int | None = None
    seasonal: tuple[tuple[Season, int], ...] = ()
    window: Window | None = None

    def __post_init__(self):
        if self.unit not in UNITS:
            _fail(f"'{self.unit}' is not a unit; use one of: {', '.join(UNITS)}.", "unit")
        _text(self.clause, "clause")
        if (self.amount is None) == (not self.seasonal):
            _fail("Give either an amount or seasonal amounts.", "amount")
        for value in [self.amount] if self.amount is not None else [a for _, a in self.seasonal]:
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_AMOUNT[self.unit]:
                _fail(f"An amount of {self.unit} must be a whole number from 1 to {MAX_AMOUNT[self.unit]}, "
                      f"not {value!r}.", "amount")
        if self.seasonal:
            _check_cover((season for season, _ in self.seasonal), "seasonal")
        if self.window is not None and self.unit not in ("minutes", "hours"):
            _fail("A daily window applies only to minutes and hours.", "window")

    def amount_on(self, day: date) -> int:
        if self.amount is not None:
            return self.amount
        return next(amount for season, amount in self.seasonal if season.contains(day))

    def due(self, start: datetime, tz: ZoneInfo, calendar: WorkCalendar) -> datetime:
        """The due time of this limit for a request registered at ``start``, aware, in ``tz``."""
        local = start.astimezone(tz)
        amount = self.amount_on(local.date())
        if self.unit == "working_days":
            return calendar.add_working_days(local, amount, tz)
        if self.unit == "calendar_days":
            wall = local.replace(tzinfo=None) + timedelta(days=amount)
            return wall.replace(tzinfo=tz).astimezone(timezone.utc).astimezone(tz)
        elapsed = timedelta(minutes=amount * (60 if self.unit == "hours" else 1))
        if self.window is None:
            return (local.astimezone(timezone.utc) + elapsed).astimezone(tz)
        return _within_windows(local, elapsed, self.window, tz)


def _within_windows(start: datetime, elapsed: timedelta, window: Window, tz: ZoneInfo) -> datetime:
    """Spend ``elapsed`` only inside the daily window; the due time is inside a window or exactly at its close."""
    moment, day, remaining = start.astimezone(timezone.utc), start.date(), elapsed
    while True:
        opens = datetime.combine(day, window.opens, tzinfo=tz).astimezone(timezone.utc)
        closes = datetime.combine(day, window.closes, tzinfo=tz).astimezone(timezone.utc)
        begin = max(moment, opens)
        if begin < closes:
            if remaining <= closes - begin:
                return (begin + remaining).astimezone(tz)
            remaining -= closes - begin
        day += timedelta(days=1)


def parse_limit(data, seasons: Mapping[str, Season], where: str) -> Limit:
    """``{amount | seasonal: {season: amount}, unit, clause, window: {from: 'HH:MM', to: 'HH:MM'}}``."""
    data = _fields(data, {"amount", "seasonal", "unit", "clause", "window"}, {"unit", "clause"}, where)
    seasonal = ()
    if "seasonal" in data:
        given = data["seasonal"]
        if not isinstance(given, Mapping) or set(given) != set(seasons):
            _fail(f"'{where}.seasonal' must give an amount for each season: {', '.join(seasons)}.", where)
        seasonal = tuple((seasons[name], amount) for name, amount in given.items())
    window = None
    if "window" in data:
        span = _fields(data["window"], {"from", "to"}, {"from", "to"}, f"{where}.window")
        window = Window(_clock(span["from"], f"{where}.window.from"), _clock(span["to"], f"{where}.window.to"))
    try:
        return Limit(data["unit"], data["clause"], data.get("amount"), seasonal, window)
    except ValidationError as error:
        _fail(f"'{where}': {error.message}", f"{where}.{error.field}")


# -- rules ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A deadline rule. ``work_type`` None: a general rule for any work type. ``default_for``: the urgency for which
    it is the default of its work type (or the general default). ``reason``: a reason code it takes over from the
    catalogue (how an organisation attaches a rule of its own to a reason)."""

    key: str
    title: str
    work_type: str | None
    localisation: Limit | None = None
    repair: Limit | None = None
    default_for: str | None = None
    reason: str | None = None
    confirmed: bool = True

    def __post_init__(self):
        if not isinstance(self.key, str) or not _RULE_KEY.match(self.key):
            _fail(f"'{self.key}' is not a rule key: use 'group.name' in lowercase latin letters, digits and "
                  "underscores.", "key")
        _text(self.title, "title")
        if self.localisation is None and self.repair is None:
            _fail(f"Rule '{self.key}' gives no deadline: add localisation, repair or both.", "repair")
        if self.default_for is not None and self.default_for not in URGENCIES:
            _fail(f"'{self.default_for}' is not an urgency; use one of: {', '.join(URGENCIES)}.", "default_for")
        if self.default_for is not None and self.reason is not None:
            _fail(f"Rule '{self.key}' is either a default or a reason's rule, not both.", "reason")
        if self.reason is not None and self.work_type is None:
            _fail(f"Rule '{self.key}' takes over a reason, so it needs the reason's work type.", "work_type")
        if not isinstance(self.confirmed, bool):
            _fail("'confirmed' must be true or false.", "confirmed")


_RULE_FIELDS = {"key", "title", "work_type", "localisation", "repair", "default_for", "reason", "confirmed"}


def parse_rule(data, seasons: Mapping[str, Season]) -> Rule:
    data = _fields(data, _RULE_FIELDS, {"key", "title", "work_type"}, "rule")
    limits = {name: parse_limit(data[name], seasons, name) if data.get(name) is not None else None
              for name in ("localisation", "repair")}
    return Rule(data["key"], data["title"], data["work_type"], limits["localisation"], limits["repair"],
                data.get("default_for"), data.get("reason"), data.get("confirmed", True))


def compute_deadlines(rule: Rule, registered_at: datetime, tz: ZoneInfo | str, calendar: WorkCalendar) -> Deadlines:
    """The due times of ``rule`` for a request registered at ``registered_at``, aware datetimes in ``tz``."""
    tz, start = zone(tz), aware(registered_at, "registered_at")
    loc, rep = rule.localisation, rule.repair
    return Deadlines(localisation_due_at=loc.due(start, tz, calendar) if loc else None,
                     repair_due_at=rep.due(start, tz, calendar) if rep else None, rule=rule.key,
                     localisation_clause=loc.clause if loc else None, repair_clause=rep.clause if rep else None)


# -- reasons -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    """A typical reason a resident names, under one work type: Russian title, urgency, rule and keywords."""

    code: str
    work_type: str
    title: str
    urgency: str
    rule: str
    keywords: tuple[str, ...]

    def __post_init__(self):
        if not isinstance(self.code, str) or not _RULE_KEY.match(self.code) \
                or self.code.split(".")[0] != self.work_type:
            _fail(f"'{self.code}' is not a reason code of '{self.work_type}': use '{self.work_type}.name'.", "code")
        _text(self.title, "title")
        if self.urgency not in URGENCIES:
            _fail(f"'{self.urgency}' is not an urgency; use one of: {', '.join(URGENCIES)}.", "urgency")
        if not self.keywords or any(not isinstance(k, str) or not k.strip() or k != k.lower()
                                    for k in self.keywords):
            _fail("'keywords' must be a non-empty list of lowercase texts.", "keywords")


def parse_reason(data, work_type: str) -> Reason:
    data = _fields(data, {"code", "title", "urgency", "rule", "keywords"},
                   {"code", "title", "urgency", "rule", "keywords"}, "reason")
    if not isinstance(data["keywords"], list):
        _fail("'keywords' must be a list.", "keywords")
    return Reason(data["code"], work_type, data["title"], data["urgency"], _text(data["rule"], "rule"),
                  tuple(data["keywords"]))


# -- the rule book -------------------------------------------------------------------------------------------------
class RuleBook:
    """The federal defaults merged with an organisation's overrides (same key replaces, a new key adds)."""

    def __init__(self, defaults: Iterable[Rule], overrides: Iterable[Rule] = (), *, reasons: Iterable[Reason],
                 work_types: Iterable[str] = STANDARD_WORK_TYPES):
        self.work_types = frozenset(work_types)
        self.reasons = _unique(reasons, "code", "reason")
        self.rules = _unique(defaults, "key", "rule")
        self.rules.update(_unique(overrides, "key", "override"))
        self._defaults: dict[tuple[str | None, str], Rule] = {}
        self._bound: dict[str, Rule] = {}
        for rule in self.rules.values():
            self._index(rule)
        for urgency in URGENCIES:
            if (None, urgency) not in self._defaults:
                _fail(f"No general rule for '{urgency}' requests: one rule without a work type needs "
                      f"default_for: {urgency}.", "default_for")
        for reason in self.reasons.values():
            self._check_reason(reason)

    def _index(self, rule: Rule) -> None:
        if rule.work_type is not None and rule.work_type not in self.work_types:
            _fail(f"Rule '{rule.key}' names an unknown work type '{rule.work_type}'.", "work_type")
        if rule.default_for is not None:
            slot = (rule.work_type, rule.default_for)
            if slot in self._defaults:
                _fail(f"Rules '{self._defaults[slot].key}' and '{rule.key}' are both the default for "
                      f"'{rule.work_type or 'any work type'}' {rule.default_for} requests.", "default_for")
            self._defaults[slot] = rule
        if rule.reason is not None:
            reason = self.reasons.get(rule.reason)
            if reason is None or reason.work_type != rule.work_type:
                _fail(f"Rule '{rule.key}' takes over an unknown reason '{rule.reason}' of '{rule.work_type}'.",
                      "reason")
            if rule.reason in self._bound:
                _fail(f"Rules '{self._bound[rule.reason].key}' and '{rule.key}' both take over reason "
                      f"'{rule.reason}'.", "reason")
            self._bound[rule.reason] = rule

    def _check_reason(self, reason: Reason) -> None:
        if reason.work_type not in self.work_types:
            _fail(f"Reason '{reason.code}' is under an unknown work type '{reason.work_type}'.", "work_type")
        rule = self.rules.get(reason.rule)
        if rule is None:
            _fail(f"Reason '{reason.code}' refers to an unknown rule '{reason.rule}'.", "rule")
        if rule.work_type not in (None, reason.work_type):
            _fail(f"Reason '{reason.code}' refers to rule '{rule.key}' of another work type '{rule.work_type}'.",
                  "rule")

    def rule(self, key: str) -> Rule:
        if key not in self.rules:
            _fail(f"Unknown deadline rule '{key}'.", "rule")
        return self.rules[key]

    def rule_for(self, work_type: str, reason_code: str | None, urgency: str) -> Rule:
        """The reason's rule, else the work type's default for ``urgency``, else the general rule for it."""
        if work_type not in self.work_types:
            _fail(f"Unknown work type '{work_type}'.", "work_type")
        if urgency not in URGENCIES:
            _fail(f"'{urgency}' is not an urgency; use one of: {', '.join(URGENCIES)}.", "urgency")
        if reason_code is not None:
            reason = self.reasons.get(reason_code)
            if reason is None:
                _fail(f"Unknown reason '{reason_code}'.", "reason")
            if reason.work_type != work_type:
                _fail(f"Reason '{reason_code}' belongs to work type '{reason.work_type}', not '{work_type}'.",
                      "reason")
            return self._bound.get(reason_code) or self.rules[reason.rule]
        return self._defaults.get((work_type, urgency)) or self._defaults[(None, urgency)]

    def reasons_under(self, work_type: str) -> list[Reason]:
        return [reason for reason in self.reasons.values() if reason.work_type == work_type]


def _unique(items: Iterable, attribute: str, kind: str) -> dict:
    found: dict = {}
    for item in items:
        name = getattr(item, attribute)
        if name in found:
            _fail(f"The {kind} '{name}' is given twice.", attribute)
        found[name] = item
    return found
