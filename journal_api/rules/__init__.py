"""Rules as data: the production calendar (calendar/ru-YYYY.yaml), the deadline rules (deadlines.yaml) and the
reasons catalogue (reasons.yaml), read from the package with importlib.resources and validated when loaded.

Every loader takes an optional path (a directory for the calendar, a file otherwise) so that tests and tools can load
other files; a file that is not valid refuses to load with a :class:`RulesFileError` naming the file and the entry.
Nothing is read at import time.
"""
from __future__ import annotations

import re
from datetime import date
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Iterable

import yaml

from ..domain.calendar import CalendarYear, WorkCalendar
from ..domain.deadlines import Reason, Rule, RuleBook, Season, parse_reason, parse_rule, parse_seasons
from ..domain.errors import ValidationError
from ..domain.worktypes import STANDARD_WORK_TYPES

_CALENDAR_FILE = re.compile(r"^ru-(\d{4})\.yaml$")
_CALENDAR_FIELDS = {"year", "confirmed", "source", "holidays", "days_off", "working_weekends"}


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file and the entry."""


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that leaves dates as text, so that a bad date is reported with its entry, not as a crash."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _package() -> Traversable:
    return files(__name__)


def _read(source: Traversable | Path):
    try:
        return yaml.load(source.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        raise RulesFileError(f"{source.name}: not valid YAML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RulesFileError(f"{source.name}: cannot be read: {error}") from None


def _mapping(data, name: str, required: set[str]) -> dict:
    if not isinstance(data, dict):
        raise RulesFileError(f"{name}: the file must hold a mapping at its top level.")
    missing = required - set(data)
    if missing:
        raise RulesFileError(f"{name}: lacks {', '.join(sorted(missing))}.")
    return data


# -- the production calendar ---------------------------------------------------------------------------------------
def load_calendar(directory: Traversable | Path | None = None) -> WorkCalendar:
    """Every ru-YYYY.yaml of ``directory`` (default: the package's calendar/)."""
    directory = directory if directory is not None else _package() / "calendar"
    years = [_calendar_year(entry) for entry in sorted(directory.iterdir(), key=lambda e: e.name)
             if entry.name.endswith(".yaml")]
    if not years:
        raise RulesFileError(f"{directory.name}: no calendar files (ru-YYYY.yaml).")
    return WorkCalendar(years)


def _calendar_year(source: Traversable | Path) -> CalendarYear:
    name = source.name
    match = _CALENDAR_FILE.match(name)
    if not match:
        raise RulesFileError(f"{name}: a calendar file must be named ru-YYYY.yaml.")
    data = _mapping(_read(source), name, _CALENDAR_FIELDS)
    unknown = set(data) - _CALENDAR_FIELDS
    if unknown:
        raise RulesFileError(f"{name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}.")
    if data["year"] != int(match[1]):
        raise RulesFileError(f"{name}: 'year' is {data['year']!r} but the file name says {match[1]}.")
    if not isinstance(data["confirmed"], bool):
        raise RulesFileError(f"{name}: 'confirmed' must be true or false.")
    if not isinstance(data["source"], str):
        raise RulesFileError(f"{name}: 'source' must name the decree.")
    holidays = [_day(value, name, f"holidays[{i}]") for i, value in enumerate(_list(data, "holidays", name))]
    weekends = [_day(value, name, f"working_weekends[{i}]")
                for i, value in enumerate(_list(data, "working_weekends", name))]
    moved = {}
    for i, entry in enumerate(_list(data, "days_off", name)):
        where = f"days_off[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"date", "moved_from", "by"} \
                or not {"date", "moved_from"} <= set(entry):
            raise RulesFileError(f"{name}: {where} must be {{date, moved_from, by}}.")
        moved[_day(entry["date"], name, f"{where}.date")] = _day(entry["moved_from"], name, f"{where}.moved_from")
    try:
        return CalendarYear(data["year"], frozenset(holidays), frozenset(moved), frozenset(weekends),
                            data["source"], data["confirmed"], moved)
    except ValidationError as error:
        raise RulesFileError(f"{name}: {error.field}: {error.message}") from None


def _list(data: dict, key: str, name: str) -> list:
    value = data[key]
    if not isinstance(value, list):
        raise RulesFileError(f"{name}: '{key}' must be a list.")
    return value


def _day(value, name: str, where: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RulesFileError(f"{name}: {where}: {value!r} is not a date (YYYY-MM-DD).")


# -- deadline rules and reasons ------------------------------------------------------------------------------------
def load_rules(path: Traversable | Path | None = None) -> tuple[list[Rule], dict[str, Season]]:
    """The rules of deadlines.yaml and the seasons they use."""
    source = path if path is not None else _package() / "deadlines.yaml"
    name = source.name
    data = _mapping(_read(source), name, {"seasons", "rules"})
    try:
        seasons = parse_seasons(data["seasons"])
    except ValidationError as error:
        raise RulesFileError(f"{name}: {error.message}") from None
    if not isinstance(data["rules"], list):
        raise RulesFileError(f"{name}: 'rules' must be a list.")
    rules = []
    for i, entry in enumerate(data["rules"]):
        label = f"rule '{entry['key']}'" if isinstance(entry, dict) and "key" in entry else f"rules[{i}]"
        try:
            rules.append(parse_rule(entry, seasons))
        except ValidationError as error:
            raise RulesFileError(f"{name}: {label}: {error.message}") from None
    return rules, seasons


def load_reasons(path: Traversable | Path | None = None) -> list[Reason]:
    """The reasons of reasons.yaml, grouped by work type in the file."""
    source = path if path is not None else _package() / "reasons.yaml"
    name = source.name
    data = _mapping(_read(source), name, set())
    reasons = []
    for work_type, entries in data.items():
        if not isinstance(entries, list) or not entries:
            raise RulesFileError(f"{name}: '{work_type}' must list at least one reason.")
        for i, entry in enumerate(entries):
            label = f"reason '{entry['code']}'" if isinstance(entry, dict) and "code" in entry \
                else f"{work_type}[{i}]"
            try:
                reasons.append(parse_reason(entry, work_type))
            except ValidationError as error:
                raise RulesFileError(f"{name}: {label}: {error.message}") from None
    return reasons


def load_rule_book(overrides: Iterable[Rule] = (), *, work_types: Iterable[str] = STANDARD_WORK_TYPES,
                   rules_path: Traversable | Path | None = None,
                   reasons_path: Traversable | Path | None = None) -> RuleBook:
    """The federal rules and reasons, checked together, then merged with an organisation's ``overrides``.

    A fault in the files is a :class:`RulesFileError`; a fault in the overrides is the domain's ValidationError, so
    that saving a bad override is refused like any other bad input."""
    rules, _ = load_rules(rules_path)
    reasons = load_reasons(reasons_path)
    work_types = tuple(work_types)
    try:
        defaults = RuleBook(rules, reasons=reasons, work_types=work_types)
    except ValidationError as error:
        names = f"{(rules_path or _package() / 'deadlines.yaml').name}, " \
                f"{(reasons_path or _package() / 'reasons.yaml').name}"
        raise RulesFileError(f"{names}: {error.message}") from None
    overrides = list(overrides)
    if not overrides:
        return defaults
    return RuleBook(rules, overrides, reasons=reasons, work_types=work_types)
