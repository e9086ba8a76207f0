"""An organisation's deadline rules: the reasons catalogue, the effective rules with their clauses, overrides
(checked by the domain together with the federal rules before anything is saved) and the production calendar."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from ..domain.calendar import CalendarYear, statutory_year
from ..domain.deadlines import Limit, Reason, Rule
from ..domain.errors import NotFound, ValidationError
from ..domain.events import Actor
from ..domain.worktypes import STANDARD_WORK_TYPES
from ..storage import tables as t
from .deadlines import RulesPolicy, build_book, federal, read_org_rules
from .uow import UnitOfWork

FIRST_YEAR, LAST_YEAR = 2000, 2100
_OVERRIDES = t.deadline_rule_overrides


@dataclass(frozen=True)
class RuleView:
    rule: Rule
    overridden: bool


def limit_body(limit: Limit | None) -> dict | None:
    """A limit as the fields of deadlines.yaml (the inverse of parse_limit)."""
    if limit is None:
        return None
    body: dict = {"unit": limit.unit, "clause": limit.clause}
    if limit.amount is not None:
        body["amount"] = limit.amount
    else:
        body["seasonal"] = {season.name: amount for season, amount in limit.seasonal}
    if limit.window is not None:
        body["window"] = {"from": f"{limit.window.opens:%H:%M}", "to": f"{limit.window.closes:%H:%M}"}
    return body


class RuleService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], policy: RulesPolicy):
        self.uow = uow_factory
        self.policy = policy

    def reasons(self, org_id: int, work_type: str | None = None) -> list[Reason]:
        reasons = federal().reasons
        if work_type is None:
            return list(reasons)
        if work_type not in self.policy.rules_of(org_id).book.work_types:
            raise ValidationError(f"Unknown work type '{work_type}'; the standard ones are: "
                                  f"{', '.join(STANDARD_WORK_TYPES)}.", field="work_type")
        return [reason for reason in reasons if reason.work_type == work_type]

    def rules(self, org_id: int) -> list[RuleView]:
        with self.uow() as uow:  # read fresh: an administrator checks what he has just saved
            rules = read_org_rules(uow.session, org_id)
        return [RuleView(rule, key in rules.overridden) for key, rule in sorted(rules.book.rules.items())]

    def override(self, org_id: int, actor: Actor, key: str, body: dict) -> RuleView:
        """Replace the federal rule ``key`` for this organisation, or add a rule of its own; refused if the merged
        rules would not hold together."""
        with self.uow() as uow:
            bodies, types = self._lock_overrides(uow, org_id)
            previous = bodies.get(key)
            book = build_book(types, {**bodies, key: body})
            if key not in federal().book.rules and not (body.get("reason") or body.get("default_for")):
                raise ValidationError(f"Rule '{key}' is new, so it must take over a reason ('reason': a code) or be "
                                      "a default ('default_for': an urgency); otherwise no request would use it.",
                                      field="reason")
            values = {"body": body, "updated_at": uow.clock()}
            c = _OVERRIDES.c
            if previous is None:
                uow.session.execute(sa.insert(_OVERRIDES).values(org_id=org_id, key=key, **values))
            else:
                uow.session.execute(sa.update(_OVERRIDES).where(c.org_id == org_id, c.key == key).values(**values))
            uow.audit(org_id, actor, "deadline_rule", None, "override", {"key": key, "body": body,
                                                                         "previous": previous})
            uow.commit()
        self.policy.forget(org_id)
        return RuleView(book.rules[key], True)

    def restore(self, org_id: int, actor: Actor, key: str) -> None:
        """Delete the organisation's override of ``key``: the federal rule applies again (a rule of its own goes)."""
        with self.uow() as uow:
            bodies, types = self._lock_overrides(uow, org_id)
            if key not in bodies:
                raise NotFound(f"Your organisation has no override of the deadline rule '{key}'.")
            previous = bodies.pop(key)
            build_book(types, bodies)  # e.g. its own rule a reason's other override relied on: refuse
            c = _OVERRIDES.c
            uow.session.execute(sa.delete(_OVERRIDES).where(c.org_id == org_id, c.key == key))
            uow.audit(org_id, actor, "deadline_rule", None, "restore", {"key": key, "previous": previous})
            uow.commit()
        self.policy.forget(org_id)

    def calendar_year(self, year: int) -> CalendarYear:
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValidationError(f"Give a year from {FIRST_YEAR} to {LAST_YEAR}, not {year}.", field="year")
        calendar = federal().calendar
        # Not calendar.year() for a year without data: showing it is no deadline, so no CalendarWarning.
        return calendar.year(year) if year in calendar.years else statutory_year(year)

    @staticmethod
    def _lock_overrides(uow: UnitOfWork, org_id: int) -> tuple[dict, list[str]]:
        """The organisation's overrides and work types; the organisation's row is locked, so that two
        administrators saving at once are checked one after the other."""
        o, c = t.organisations.c, _OVERRIDES.c
        found = uow.session.execute(sa.select(o.id).where(o.id == org_id).with_for_update()).scalar()
        if found is None:
            raise NotFound(f"Organisation {org_id} does not exist.")
        bodies = dict(uow.session.execute(sa.select(c.key, c.body).where(c.org_id == org_id)).all())
        types = list(uow.session.execute(
            sa.select(t.work_types.c.code).where(t.work_types.c.org_id == org_id)).scalars())
        return bodies, types
