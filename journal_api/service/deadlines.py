"""Legal deadlines of each request: the federal rules as data (journal_api/rules) merged with the organisation's
overrides (table deadline_rule_overrides), counted in the organisation's time zone over the production calendar.

Reasons. A request's ``reason`` is either a code of the reasons catalogue (``water.pipe_burst``), which picks the
rule and, unless the client gives an urgency, the urgency; or free text (what the resident said, a dispatcher's
note), which leaves the rule to the work type and the urgency. A text shaped like a code (lowercase latin
``group.name``) that is not a reason of the request's work type is refused: it is a mistake, not a description.

Caching. The rule files and the calendar are read once per process, on first use. An organisation's merged rules
are kept for ``cache_seconds``; saving or deleting an override forgets them in this process at once, other
processes see the change when their copy expires.
"""
from __future__ import annotations

import functools
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from ..domain.calendar import WorkCalendar, zone
from ..domain.deadlines import Reason, Rule, RuleBook, Season, compute_deadlines, parse_rule
from ..domain.errors import NotFound, ValidationError
from ..domain.request import Deadlines, Request
from ..domain.worktypes import STANDARD_WORK_TYPES
from ..rules import load_calendar, load_reasons, load_rule_book, load_rules
from ..storage import tables as t

log = logging.getLogger(__name__)
CODE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class DeadlinePolicy(Protocol):
    def deadlines_for(self, request: Request, org_id: int, now: datetime, *,
                      session: Session | None = None) -> Deadlines: ...

    def reason(self, work_type: str, text: str | None) -> Reason | None: ...


@dataclass(frozen=True)
class Federal:
    """The rule files and the calendar, as shipped with the package."""

    rules: tuple[Rule, ...]
    seasons: Mapping[str, Season]
    reasons: tuple[Reason, ...]
    book: RuleBook
    calendar: WorkCalendar


@functools.lru_cache(maxsize=1)
def federal() -> Federal:
    rules, seasons = load_rules()
    return Federal(tuple(rules), seasons, tuple(load_reasons()), load_rule_book(), load_calendar())


def catalogue_reason(work_type: str, text: str | None) -> Reason | None:
    """The catalogue reason ``text`` names; None for free text. A code unknown for ``work_type`` is refused."""
    code = (text or "").strip()
    if not CODE_SHAPE.match(code):
        return None
    book = federal().book
    reason = book.reasons.get(code)
    if reason is not None and reason.work_type == work_type:
        return reason
    known = [r.code for r in book.reasons_under(work_type)]
    problem = f"Unknown reason code '{code}'" if reason is None else \
        f"Reason '{code}' belongs to work type '{reason.work_type}', not '{work_type}'"
    hint = f"use one of the reasons of '{work_type}': {', '.join(known)}" if known else \
        f"work type '{work_type}' has no catalogue reasons: describe the problem in words"
    raise ValidationError(f"{problem}; {hint}.", field="reason", details={"known": known})


def override_rules(bodies: Mapping[str, dict]) -> list[Rule]:
    """Parse stored override bodies (the fields of a rule in deadlines.yaml, without the key)."""
    seasons = federal().seasons
    rules = []
    for key, body in bodies.items():
        if not isinstance(body, Mapping):
            raise ValidationError(f"Rule '{key}' must be an object of rule fields.", field="body")
        if "key" in body:
            raise ValidationError("The rule's key is the one in the path; do not repeat it in the body.",
                                  field="key")
        rules.append(parse_rule({**body, "key": key}, seasons))
    return rules


def build_book(work_types: Iterable[str], bodies: Mapping[str, dict]) -> RuleBook:
    """The federal rules merged with ``bodies``, for the standard work types and the organisation's own."""
    f = federal()
    return RuleBook(f.rules, override_rules(bodies), reasons=f.reasons,
                    work_types=set(STANDARD_WORK_TYPES) | set(work_types))


@dataclass(frozen=True)
class OrgRules:
    book: RuleBook
    tz: ZoneInfo
    overridden: frozenset[str]


def read_org_rules(db, org_id: int) -> OrgRules:
    """The organisation's effective rules, read through ``db`` (a Session or a Connection)."""
    tz_name = db.execute(sa.select(t.organisations.c.timezone).where(t.organisations.c.id == org_id)).scalar()
    if tz_name is None:
        raise NotFound(f"Organisation {org_id} does not exist.")
    types = db.execute(sa.select(t.work_types.c.code).where(t.work_types.c.org_id == org_id)).scalars().all()
    d = t.deadline_rule_overrides.c
    bodies = dict(db.execute(sa.select(d.key, d.body).where(d.org_id == org_id).order_by(d.key)).all())
    try:
        book = build_book(types, bodies)
    except ValidationError as error:  # stored before a release changed the files: never refuse a registration
        log.error("organisation %s: deadline overrides ignored, they no longer fit the federal rules: %s",
                  org_id, error.message)
        book, bodies = build_book(types, {}), {}
    return OrgRules(book, zone(tz_name), frozenset(bodies))


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(timezone.utc) if moment is not None else None


class RulesPolicy:
    """Deadlines by the rule the request's work type, reason and urgency pick in the organisation's rule book."""

    def __init__(self, engine: sa.Engine, *, cache_seconds: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self._engine, self._ttl, self._monotonic = engine, cache_seconds, monotonic
        self._cache: dict[int, tuple[float, OrgRules]] = {}
        self._lock = threading.Lock()

    def reason(self, work_type: str, text: str | None) -> Reason | None:
        return catalogue_reason(work_type, text)

    def deadlines_for(self, request: Request, org_id: int, now: datetime, *,
                      session: Session | None = None) -> Deadlines:
        session = session or object_session(request)
        rules = self.rules_of(org_id, session)
        if request.work_type not in rules.book.work_types:  # a work type added since the rules were read
            self.forget(org_id)
            rules = self.rules_of(org_id, session)
        reason = catalogue_reason(request.work_type, request.reason)
        rule = rules.book.rule_for(request.work_type, reason.code if reason else None, request.urgency)
        due = compute_deadlines(rule, request.registered_at, rules.tz, federal().calendar)
        return replace(due, localisation_due_at=_utc(due.localisation_due_at), repair_due_at=_utc(due.repair_due_at))

    def rules_of(self, org_id: int, session: Session | None = None) -> OrgRules:
        with self._lock:
            cached = self._cache.get(org_id)
        if cached is not None and cached[0] > self._monotonic():
            return cached[1]
        if session is not None:
            rules = read_org_rules(session, org_id)
        else:
            with self._engine.connect() as conn:
                rules = read_org_rules(conn, org_id)
        with self._lock:
            self._cache[org_id] = (self._monotonic() + self._ttl, rules)
        return rules

    def forget(self, org_id: int) -> None:
        with self._lock:
            self._cache.pop(org_id, None)


class EmergencyOnlyPolicy:
    """The federal emergency pair alone (ПП 416 п.13), without the database: bench/journal_fill.py fills years of
    synthetic history with it. The journal itself uses :class:`RulesPolicy`."""

    CLAUSE = "ПП 416 п.13"

    def reason(self, work_type: str, text: str | None) -> Reason | None:
        return None

    def deadlines_for(self, request: Request, org_id: int, now: datetime, *,
                      session: Session | None = None) -> Deadlines:
        if request.urgency != "emergency":
            return Deadlines()
        start = request.registered_at
        return Deadlines(localisation_due_at=start + timedelta(minutes=30), repair_due_at=start + timedelta(days=3),
                         rule="federal.emergency", localisation_clause=self.CLAUSE, repair_clause=self.CLAUSE)
