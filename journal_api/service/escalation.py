"""The escalation ladder computed for real requests: each tick finds the reminders and escalations that fell due,
logs each one once (escalation_log, unique per request and key) and emits it to the outbox in the same transaction
for the notifier. Organisations may replace whole tracks of the default ladder (escalation_overrides).

A tick is safe with several workers: the log row is inserted with ON CONFLICT DO NOTHING and the event is emitted
only when this transaction's insert happened.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

import sqlalchemy as sa

from ..domain.errors import NotFound, ValidationError
from ..domain.escalation import (TRACKS, DueAction, Ladder, RequestSnapshot, Track, due_actions, format_duration,
                                 next_due_at, parse_ladder)
from ..domain.events import Actor, DomainEvent
from ..domain.schedule import on_shift
from ..domain.status import OPEN_STATUSES
from ..domain.worktypes import URGENCIES
from ..rules.escalation_loader import default_ladder
from ..storage import tables as t
from .uow import UnitOfWork

log = logging.getLogger(__name__)
EVENTS = {"reminder": "request.reminder_due", "escalation": "request.escalation_due"}
CHUNK = 1000  # ids per IN list
_REPEAT = re.compile(r"\*\d+:")
_OPEN = sorted(s.value for s in OPEN_STATUSES)
_R = t.requests.c
_COLUMNS = (_R.id, _R.org_id, _R.number, _R.status, _R.urgency, _R.registered_at, _R.assignee_id, _R.assigned_at,
            _R.accepted_at, _R.localised_at, _R.localisation_due_at, _R.repair_due_at, _R.closed_at, _R.updated_at)


@dataclass(frozen=True)
class Recipients:
    """Who hears of an organisation's requests at one moment."""

    dispatchers: tuple[int, ...]
    fallback: bool  # nobody on shift: every active dispatcher
    managers: tuple[int, ...]

    def of(self, target: str, assignee_id: int | None) -> tuple[list[int], bool]:
        if target == "assignee":
            return ([assignee_id] if assignee_id is not None else []), False
        if target == "dispatcher_on_duty":
            return list(self.dispatchers), self.fallback
        return list(self.managers), False


class EscalationService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], default: Ladder | None = None):
        self.uow = uow_factory
        self._default = default

    @property
    def default(self) -> Ladder:
        return self._default or default_ladder()

    # -- the organisation's ladder -------------------------------------------------------------------------------
    def effective(self, org_id: int) -> tuple[Ladder, frozenset[str]]:
        """The organisation's ladder and the names of the tracks it overrides."""
        with self.uow() as uow:
            overrides = _overrides(uow.session, [org_id]).get(org_id, {})
        return self._merge(overrides), frozenset(overrides)

    def set_track(self, org_id: int, actor: Actor, track: str, body: dict) -> Ladder:
        """Replace one track for the organisation; the body is validated as the ladder file's track entry."""
        _check_track(track)
        parse_ladder({"tracks": {track: body}}, f"escalation override '{track}'", partial=True)
        with self.uow() as uow:
            s, now = uow.session, uow.clock()
            c = t.escalation_overrides.c
            existing = s.execute(sa.select(c.id).where(c.org_id == org_id, c.track == track)
                                 .with_for_update()).scalar()
            if existing is None:
                s.execute(sa.insert(t.escalation_overrides).values(org_id=org_id, track=track, body=body,
                                                                   updated_at=now))
            else:
                s.execute(sa.update(t.escalation_overrides).where(c.id == existing).values(body=body, updated_at=now))
            uow.audit(org_id, actor, "escalation_override", existing, "update" if existing else "create",
                      {"track": track, "body": body})
            uow.commit()
        return self.effective(org_id)[0]

    def reset_track(self, org_id: int, actor: Actor, track: str) -> None:
        """Back to the default ladder's track."""
        _check_track(track)
        with self.uow() as uow:
            c = t.escalation_overrides.c
            gone = uow.session.execute(sa.delete(t.escalation_overrides)
                                       .where(c.org_id == org_id, c.track == track).returning(c.id)).scalar()
            if gone is None:
                raise NotFound(f"The track '{track}' is not overridden; it already follows the default ladder.",
                               field="track")
            uow.audit(org_id, actor, "escalation_override", gone, "delete", {"track": track})
            uow.commit()

    def _merge(self, overrides: dict[str, dict]) -> Ladder:
        if not overrides:
            return self.default
        return self.default.merged(parse_ladder({"tracks": overrides}, "escalation_overrides", partial=True))

    # -- the tick ------------------------------------------------------------------------------------------------
    def tick(self, now: datetime) -> int:
        """Emit every reminder and escalation due at ``now`` that was not emitted before; returns how many."""
        with self.uow() as uow:
            rows = uow.session.execute(sa.select(*_COLUMNS).where(_R.status.in_(_OPEN), _watched())).all()
        by_org: dict[int, list] = {}
        for row in rows:
            by_org.setdefault(row.org_id, []).append(row)
        emitted = 0
        for org_id, org_rows in sorted(by_org.items()):
            try:
                emitted += self._tick_org(org_id, org_rows, now)
            except Exception:  # one organisation's trouble does not silence the others; the next tick retries
                log.exception("escalation tick failed for organisation %s", org_id)
        return emitted

    def _tick_org(self, org_id: int, rows: list, now: datetime) -> int:
        with self.uow() as uow:
            s = uow.session
            ladder = self._merge(_overrides(s, [org_id]).get(org_id, {}))
            ids = [r.id for r in rows]
            since, last, ladder_at = _status_since(s, ids), _last_emitted(s, ids), _ladder_changed_at(s, org_id)
            due = {}
            for row in rows:
                snapshot = _snapshot(row, since.get(row.id))
                if _quiet(row, snapshot, ladder, last.get(row.id), ladder_at, now):
                    continue
                actions = _latest_repeats(due_actions(snapshot, ladder, now))
                if actions:
                    due[row.id] = (row, actions)
            if not due:
                return 0
            logged = _logged(s, list(due))
            fresh = [(row, a) for row, actions in due.values() for a in actions if (row.id, a.key) not in logged]
            inserted = _insert_log(s, org_id, fresh, now)
            if not inserted:
                return 0
            recipients = _recipients(s, org_id, now)
            for row, action in fresh:
                if (row.id, action.key) in inserted:
                    uow.emit(_event(org_id, row, action, recipients))
            uow.commit()
            return len(inserted)


# -- reading -----------------------------------------------------------------------------------------------------
def _check_track(track: str) -> None:
    if track not in TRACKS:
        raise ValidationError(f"Unknown track '{track}'; use one of: {', '.join(TRACKS)}.", field="track")


def _watched():
    """Open requests with something a track can watch: nobody holds it, an unaccepted assignment, or a deadline."""
    return sa.or_(_R.assignee_id.is_(None), _R.accepted_at.is_(None), _R.localisation_due_at.is_not(None),
                  _R.repair_due_at.is_not(None), _R.status.in_(("new", "impossible")))


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _overrides(s, org_ids: list[int]) -> dict[int, dict[str, dict]]:
    c = t.escalation_overrides.c
    found: dict[int, dict[str, dict]] = {}
    for row in s.execute(sa.select(c.org_id, c.track, c.body).where(c.org_id.in_(org_ids)).order_by(c.track)):
        found.setdefault(row.org_id, {})[row.track] = row.body
    return found


def _status_since(s, ids: list[int]) -> dict[int, datetime]:
    """When each request's current status began: its latest status entry in the history."""
    e = t.request_events.c
    found = {}
    for part in _chunks(ids):
        query = sa.select(e.request_id, sa.func.max(e.at)).where(e.request_id.in_(part), e.kind == "status") \
            .group_by(e.request_id)
        found.update(dict(s.execute(query).all()))
    return found


def _last_emitted(s, ids: list[int]) -> dict[int, datetime]:
    """The last tick that emitted something for each request."""
    c = t.escalation_log.c
    found = {}
    for part in _chunks(ids):
        query = sa.select(c.request_id, sa.func.max(c.emitted_at)).where(c.request_id.in_(part)) \
            .group_by(c.request_id)
        found.update(dict(s.execute(query).all()))
    return found


def _ladder_changed_at(s, org_id: int) -> datetime | None:
    c = t.escalation_overrides.c
    return s.execute(sa.select(sa.func.max(c.updated_at)).where(c.org_id == org_id)).scalar()


def _quiet(row, snapshot: RequestSnapshot, ladder: Ladder, last: datetime | None, ladder_at: datetime | None,
           now: datetime) -> bool:
    """Nothing new can be due: the tick that last emitted for the request saw its present state and ladder (so it
    logged every action due by then), and the ladder's next point lies after ``now``. Saves listing the many
    repeats of a long-overdue request every minute."""
    if last is None or row.updated_at >= last or (ladder_at is not None and ladder_at >= last):
        return False
    following = next_due_at(snapshot, ladder, last)
    return following is None or following > now


def _snapshot(row, status_since: datetime | None) -> RequestSnapshot:
    return RequestSnapshot(
        status=row.status, urgency=row.urgency, registered_at=row.registered_at, assignee_id=row.assignee_id,
        assigned_at=row.assigned_at, accepted_at=row.accepted_at, localised_at=row.localised_at,
        status_since=status_since, localisation_due_at=row.localisation_due_at, repair_due_at=row.repair_due_at,
        closed_at=row.closed_at)


def _latest_repeats(actions: list[DueAction]) -> list[DueAction]:
    """Of a repeated action only the latest falls due: after a pause the worker does not send the missed ones."""
    latest: dict[str, DueAction] = {}
    for action in actions:  # in time order
        latest[_REPEAT.sub(":", action.key) if action.repeat else action.key] = action
    return sorted(latest.values(), key=lambda a: (a.due_at, a.key))


def _logged(s, ids: list[int]) -> set[tuple[int, str]]:
    c = t.escalation_log.c
    found = set()
    for part in _chunks(ids):
        found.update((r.request_id, r.key) for r in s.execute(sa.select(c.request_id, c.key)
                                                                .where(c.request_id.in_(part))))
    return found


def _insert_log(s, org_id: int, fresh: list, now: datetime) -> set[tuple[int, str]]:
    """Log the actions; the ones another worker logged first are skipped. Returns the (request, key) inserted."""
    if not fresh:
        return set()
    if s.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    c = t.escalation_log.c
    values = sorted(({"org_id": org_id, "request_id": row.id, "key": a.key, "due_at": a.due_at, "emitted_at": now}
                     for row, a in fresh), key=lambda v: (v["request_id"], v["key"]))  # one lock order
    statement = insert(t.escalation_log).on_conflict_do_nothing(index_elements=["request_id", "key"]) \
        .returning(c.request_id, c.key)
    return {(r.request_id, r.key) for r in s.execute(statement, values)}


def _recipients(s, org_id: int, now: datetime) -> Recipients:
    st, sh, ab = t.staff.c, t.shifts.c, t.absences.c
    people = s.execute(sa.select(st.id, st.role).where(st.org_id == org_id, st.active.is_(True),
                                                       st.role.in_(("dispatcher", "manager")))).all()
    dispatchers = sorted(p.id for p in people if p.role == "dispatcher")
    managers = tuple(sorted(p.id for p in people if p.role == "manager"))
    shifts = s.execute(sa.select(sh.staff_id, sh.starts_at, sh.ends_at, sh.kind)
                       .where(sh.org_id == org_id, sh.starts_at <= now, sh.ends_at > now,
                              sh.staff_id.in_(dispatchers))).all() if dispatchers else []
    absences = s.execute(sa.select(ab.staff_id, ab.starts_at, ab.ends_at)
                         .where(ab.org_id == org_id, ab.starts_at <= now, ab.ends_at > now)).all() if shifts else []
    on_duty = tuple(sorted(on_shift(shifts, absences, now)))
    if on_duty:
        return Recipients(on_duty, False, managers)
    return Recipients(tuple(dispatchers), True, managers)


def _event(org_id: int, row, action: DueAction, recipients: Recipients) -> DomainEvent:
    staff_ids, fallback = recipients.of(action.target, row.assignee_id)
    return DomainEvent(EVENTS[action.kind], org_id, row.id, {
        "number": row.number, "urgency": row.urgency, "track": action.track, "key": action.key,
        "kind": action.kind, "template": action.template, "target": action.target, "due_at": action.due_at,
        "deadline": action.deadline, "deadline_at": action.deadline_at, "repeat": action.repeat,
        "recipients": staff_ids, "fallback": fallback})


# -- showing the ladder ------------------------------------------------------------------------------------------
def track_dict(track: Track) -> dict:
    """A track as the ladder file writes it (parse_ladder reads it back)."""
    body: dict = {"statuses": sorted(s.value for s in track.statuses)}
    if track.until:
        body["until"] = track.until
    for urgency in URGENCIES:
        entries = []
        for step in track.steps[urgency]:
            verb = "remind" if step.kind == "reminder" else "escalate"
            entry = {"at": step.at.label} if step.every is None else \
                {"every": format_duration(step.every), "from": step.at.label}
            entries.append({**entry, verb: step.target, "template": step.template})
        body[urgency] = entries
    return body
