"""Deadline rules endpoints: the reasons catalogue, the organisation's effective rules and its overrides, and the
production calendar. Overrides are checked by the domain together with the federal rules before they are saved."""
from __future__ import annotations

from datetime import date
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from ..domain.errors import ValidationError
from ..service.rules import RuleView, limit_body
from .core import ADMIN_ROLES, ALL_ROLES, endpoint, principal, services
from .request_schemas import Strict, Urgency

bp = Blueprint("rules", __name__)
TAG = "rules"


class ReasonQuery(Strict):
    work_type: str | None = None


class ReasonOut(BaseModel):
    code: str
    work_type: str
    title: str = Field(description="Russian, as shown to dispatchers")
    urgency: Urgency
    rule: str
    keywords: list[str]


class LimitOut(BaseModel):
    amount: int | None = None
    seasonal: dict[str, int] | None = Field(default=None, description="amount per season (winter, summer)")
    unit: Literal["minutes", "hours", "calendar_days", "working_days"]
    window: dict[str, str] | None = Field(default=None, description="daily hours the clock runs: {from, to}")
    clause: str


class RuleOut(BaseModel):
    key: str
    title: str
    work_type: str | None
    default_for: Urgency | None
    reason: str | None
    confirmed: bool
    overridden: bool = Field(description="the organisation's own rule or its override of the federal one")
    localisation: LimitOut | None
    repair: LimitOut | None


class RuleIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    work_type: str | None = Field(description="null: a rule for any work type")
    localisation: dict | None = Field(default=None, description="{amount | seasonal, unit, clause, window}")
    repair: dict | None = Field(default=None, description="{amount | seasonal, unit, clause, window}")
    default_for: Urgency | None = None
    reason: str | None = Field(default=None, description="a reason code whose deadlines this rule sets")
    confirmed: bool = True


class DayOffOut(BaseModel):
    date: date
    moved_from: date | None


class CalendarOut(BaseModel):
    year: int
    confirmed: bool = Field(description="true when a Government decree on moved days off is known for the year")
    source: str
    working_days: int
    holidays: list[date]
    days_off: list[DayOffOut] = Field(description="weekdays made days off, and the day each was moved from")
    working_weekends: list[date]


def _rule_dict(view: RuleView) -> dict:
    r = view.rule
    return {"key": r.key, "title": r.title, "work_type": r.work_type, "default_for": r.default_for,
            "reason": r.reason, "confirmed": r.confirmed, "overridden": view.overridden,
            "localisation": limit_body(r.localisation), "repair": limit_body(r.repair)}


@endpoint(bp, "GET", "/reasons", summary="The catalogue of typical reasons, with urgency and rule",
          roles=ALL_ROLES, query=ReasonQuery, out=list[ReasonOut], tag=TAG)
def list_reasons(query: ReasonQuery):
    reasons = services().rules.reasons(principal().org_id, query.work_type)
    return [{"code": r.code, "work_type": r.work_type, "title": r.title, "urgency": r.urgency, "rule": r.rule,
             "keywords": list(r.keywords)} for r in reasons]


@endpoint(bp, "GET", "/deadline-rules", summary="The organisation's effective deadline rules, with clauses",
          roles=ALL_ROLES, out=list[RuleOut], tag=TAG)
def list_deadline_rules():
    return [_rule_dict(view) for view in services().rules.rules(principal().org_id)]


@endpoint(bp, "PUT", "/deadline-rules/{key}", summary="Override a federal deadline rule or add one of your own",
          roles=ADMIN_ROLES, body=RuleIn, out=RuleOut, tag=TAG)
def put_deadline_rule(key: str, body: RuleIn):
    who = principal()
    stored = {**body.model_dump(exclude_none=True), "work_type": body.work_type}
    return _rule_dict(services().rules.override(who.org_id, who.actor, key, stored))


@endpoint(bp, "DELETE", "/deadline-rules/{key}", summary="Drop the organisation's override: the federal rule applies",
          roles=ADMIN_ROLES, status=204, tag=TAG)
def delete_deadline_rule(key: str):
    who = principal()
    services().rules.restore(who.org_id, who.actor, key)


@endpoint(bp, "GET", "/calendar/{year}", summary="The production calendar of a year", roles=ALL_ROLES,
          out=CalendarOut, tag=TAG)
def get_calendar(year: str):
    if not year.isdigit():
        raise ValidationError(f"The year must be a number such as 2026, not '{year}'.", field="year")
    y = services().rules.calendar_year(int(year))
    return {"year": y.year, "confirmed": y.confirmed, "source": y.source, "working_days": y.working_days(),
            "holidays": sorted(y.holidays), "working_weekends": sorted(y.working_weekends),
            "days_off": [{"date": d, "moved_from": y.moved_from.get(d)} for d in sorted(y.days_off)]}
