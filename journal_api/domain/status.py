"""The status flow of a request, as data, and its check.

Every status change goes through :func:`check_transition`; the service layer is the only caller, so an illegal
transition cannot be written by any channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import IllegalTransition, ValidationError


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"  # принято в работу
    POSTPONED = "postponed"  # отложена
    IMPOSSIBLE = "impossible"  # невозможно выполнить
    DONE = "done"  # выполнена, with a report
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({Status.NEW, Status.ASSIGNED, Status.ACCEPTED, Status.POSTPONED, Status.IMPOSSIBLE})
FINAL_STATUSES = frozenset({Status.CLOSED, Status.CANCELLED})

STAFF = frozenset({"dispatcher", "manager", "admin", "system"})
EVERYONE = STAFF | {"technician"}


@dataclass(frozen=True)
class Rule:
    source: Status
    target: Status
    requires: frozenset[str] = frozenset()  # of "reason", "until", "report"
    roles: frozenset[str] = STAFF
    via: str = "transition"  # "assignment": entered only by assigning or unassigning


def _r(source, target, requires=(), roles=STAFF, via="transition"):
    return Rule(Status(source), Status(target), frozenset(requires), frozenset(roles), via)


# The flow. A technician moves his own requests through the work; the dispatcher (and above) can do everything.
FLOW: tuple[Rule, ...] = (
    _r("new", "assigned", via="assignment"),
    _r("new", "cancelled", ["reason"]),
    _r("assigned", "new", via="assignment"),
    _r("assigned", "assigned", via="assignment"),
    _r("assigned", "accepted", roles=EVERYONE),
    _r("assigned", "impossible", ["reason"], roles=EVERYONE),
    _r("assigned", "cancelled", ["reason"]),
    _r("accepted", "assigned", via="assignment"),
    _r("accepted", "postponed", ["reason", "until"], roles=EVERYONE),
    _r("accepted", "impossible", ["reason"], roles=EVERYONE),
    _r("accepted", "done", ["report"], roles=EVERYONE),
    _r("accepted", "cancelled", ["reason"]),
    _r("postponed", "assigned", via="assignment"),
    _r("postponed", "postponed", ["reason", "until"], roles=EVERYONE),
    _r("postponed", "accepted", roles=EVERYONE),
    _r("postponed", "impossible", ["reason"], roles=EVERYONE),
    _r("postponed", "done", ["report"], roles=EVERYONE),
    _r("postponed", "cancelled", ["reason"]),
    _r("impossible", "assigned", via="assignment"),
    _r("impossible", "closed", ["reason"]),
    _r("impossible", "cancelled", ["reason"]),
    _r("done", "closed"),
    _r("done", "accepted", ["reason"]),  # reopened: the work was not done
)

_BY_PAIR = {(rule.source, rule.target): rule for rule in FLOW}


def allowed_targets(source: Status | str, role: str = "system", via: str = "transition") -> list[Status]:
    source = Status(source)
    return [r.target for r in FLOW if r.source == source and role in r.roles and r.via == via]


def check_transition(source: Status | str, target: Status | str, *, role: str, via: str = "transition",
                     reason: str | None = None, until: object = None, report: str | None = None) -> Rule:
    """Return the rule that allows this change, or raise with a message that says what is allowed."""
    try:
        target = Status(target)
    except ValueError:
        raise ValidationError(f"Unknown status '{target}'. Known: {', '.join(s.value for s in Status)}.",
                              field="to") from None
    source = Status(source)
    rule = _BY_PAIR.get((source, target))
    if rule is None or rule.via != via:
        if rule is not None and rule.via == "assignment":
            hint = "Use the assignment endpoint to assign or unassign a request."
        else:
            options = ", ".join(t.value for t in allowed_targets(source, "system", via)) or "none (final status)"
            hint = f"From '{source.value}' the allowed statuses are: {options}."
        raise IllegalTransition(f"A request cannot go from '{source.value}' to '{target.value}'. {hint}",
                                details={"from": source.value, "to": target.value})
    if role not in rule.roles:
        raise IllegalTransition(f"The role '{role}' cannot move a request from '{source.value}' to "
                                f"'{target.value}'.", details={"from": source.value, "to": target.value})
    given = {"reason": reason, "until": until, "report": report}
    for name in sorted(rule.requires):
        value = given[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationError(f"Moving a request to '{target.value}' requires '{name}'.", field=name)
    return rule
