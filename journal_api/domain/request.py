"""The request (заявка): its fields, its status flow and its append-only history.

Every change goes through a method here. Each method checks the change, applies it, appends one history entry per
changed field and records a domain event. Storage never changes a request behind its back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import CrossOrganisation, Forbidden, ValidationError
from .events import Actor, DomainEvent
from .phones import DEFAULT_REGION, maybe_phone
from .registry import Building, Staff
from .status import FINAL_STATUSES, OPEN_STATUSES, Status, check_transition
from .worktypes import CHANNELS, HISTORY_CHANNELS, URGENCIES, check_choice

MAX_DESCRIPTION = 4000
ATTACHMENT_KINDS = ("recording", "photo", "document")
MAX_RESIDENT_MESSAGE = 200  # a message to the resident goes by SMS: at most 5 segments with the link
MAX_RATING_COMMENT = 1000  # a resident's comment with his rating
RESIDENT_NOTE = "Сообщение жителю: "  # how the history marks it (the resident's page lists these lines)


@dataclass(frozen=True)
class Deadlines:
    localisation_due_at: datetime | None = None
    repair_due_at: datetime | None = None
    rule: str | None = None
    localisation_clause: str | None = None
    repair_clause: str | None = None


class HistoryEntry:
    """One append-only line of a request's history: who, when, from which channel, what changed."""

    def __init__(self, *, org_id: int, request_id: int | None, at: datetime, actor: Actor, channel: str, kind: str,
                 field: str | None = None, old_value=None, new_value=None, note: str | None = None):
        self.org_id = org_id
        self.request_id = request_id
        self.at = at
        self.actor_kind = actor.kind
        self.actor_role = actor.role
        self.actor_id = actor.id
        self.actor_name = actor.name
        self.channel = check_choice(channel, HISTORY_CHANNELS, "channel")
        self.kind = kind
        self.field = field
        self.old_value = None if old_value is None else _as_text(old_value)
        self.new_value = None if new_value is None else _as_text(new_value)
        self.note = note


def _as_text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _clean(text: str | None, field: str, max_len: int = 2000, required: bool = False) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise ValidationError(f"'{field}' is required.", field=field)
        return None
    if len(text) > max_len:
        raise ValidationError(f"'{field}' is longer than {max_len} characters.", field=field)
    return text


class Request:
    EDITABLE = ("description", "work_type", "urgency", "apartment", "entrance", "floor", "caller_name", "caller_phone",
                "reason")

    def __init__(self, *, org_id: int, number: int, channel: str, description: str, work_type: str, urgency: str,
                 registered_at: datetime, building: Building | None = None, caller_phone: str | None = None,
                 caller_name: str | None = None, apartment: int | None = None, entrance: int | None = None,
                 floor: int | None = None, answered_at: datetime | None = None, reason: str | None = None):
        self.org_id = org_id
        self.number = number
        self.channel = check_choice(channel, CHANNELS, "channel")
        self.description = _clean(description, "description", MAX_DESCRIPTION, required=True)
        self.work_type = work_type
        self.urgency = check_choice(urgency, URGENCIES, "urgency")
        self.reason = _clean(reason, "reason", 200)
        self.caller_phone = caller_phone
        self.caller_name = _clean(caller_name, "caller_name", 200)
        if building is not None:
            if building.org_id != org_id:
                raise CrossOrganisation("The building belongs to another organisation.", field="building")
            building.check_place(apartment, entrance, floor)
        elif apartment is not None or entrance is not None or floor is not None:
            raise ValidationError("An apartment, entrance or floor needs a building.", field="building")
        self.building = building
        self.apartment, self.entrance, self.floor = apartment, entrance, floor
        self.status = Status.NEW.value
        self.assignee = None
        self.answered_at = answered_at
        self.registered_at = registered_at
        self.updated_at = registered_at
        self.closed_at = None
        self.done_at = None  # when the work was done: "resolved on time" is measured by it, not by closed_at
        self.localisation_due_at = self.repair_due_at = self.due_at = None
        self.deadline_rule = self.localisation_clause = self.repair_clause = None
        self.postponed_until = None
        self.status_reason = None
        self.report = None
        self.assigned_at = self.accepted_at = self.localised_at = None
        self.attention = None
        self._init_pending()

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _init_pending(self) -> None:
        self.pending_history: list[HistoryEntry] = []
        self.pending_events: list[DomainEvent] = []

    def _log(self, actor: Actor, channel: str, now: datetime, kind: str, field=None, old=None, new=None, note=None):
        self.pending_history.append(HistoryEntry(
            org_id=self.org_id, request_id=getattr(self, "id", None), at=now, actor=actor, channel=channel,
            kind=kind, field=field, old_value=old, new_value=new, note=note))
        self.updated_at = now

    def _event(self, name: str, **data) -> None:
        self.pending_events.append(DomainEvent(name, self.org_id, getattr(self, "id", None),
                                               {"number": self.number, **data}))

    def _set(self, field: str, value, actor: Actor, channel: str, now: datetime, kind: str = "field") -> bool:
        old = getattr(self, field)
        if old == value:
            return False
        setattr(self, field, value)
        self._log(actor, channel, now, kind, field, old, value)
        return True

    @property
    def is_open(self) -> bool:
        return Status(self.status) in OPEN_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        return self.is_open and self.due_at is not None and self.due_at < now

    def _refresh_due(self) -> None:
        """The next deadline that is watched: localisation until the emergency is localised, then the repair."""
        waiting = self.localised_at is None and self.localisation_due_at is not None
        self.due_at = self.localisation_due_at if waiting else self.repair_due_at

    # -- life cycle --------------------------------------------------------------------------------------------
    def _deadline_fields(self, d: Deadlines) -> dict:
        return {"localisation_due_at": d.localisation_due_at, "repair_due_at": d.repair_due_at,
                "deadline_rule": d.rule, "localisation_clause": d.localisation_clause,
                "repair_clause": d.repair_clause}

    def registered(self, actor: Actor, deadlines: Deadlines) -> None:
        """Record the registration; called once, right after the request has its number."""
        for name, value in self._deadline_fields(deadlines).items():
            setattr(self, name, value)
        self._refresh_due()
        channel = self.channel
        self._log(actor, channel, self.registered_at, "created", "number", None, self.number)
        self._event("request.registered", channel=channel, urgency=self.urgency, work_type=self.work_type)

    def apply_deadlines(self, deadlines: Deadlines, actor: Actor, channel: str, now: datetime) -> list[str]:
        """Set deadlines again (after a correction of urgency or work type); each changed field is in the history."""
        changed = [name for name, value in self._deadline_fields(deadlines).items()
                   if self._set(name, value, actor, channel, now, kind="deadline")]
        self._refresh_due()
        if changed:
            self._event("request.deadlines_changed", fields=changed, rule=self.deadline_rule)
        return changed

    def transition(self, target: str, actor: Actor, channel: str, now: datetime, *, reason: str | None = None,
                   until: datetime | None = None, report: str | None = None) -> None:
        if actor.role == "technician" and (self.assignee is None or self.assignee.id != actor.id):
            raise Forbidden("A technician can change only the requests assigned to him.", field="number")
        rule = check_transition(self.status, target, role=actor.role, reason=reason, until=until, report=report)
        if "until" in rule.requires and until <= now:
            raise ValidationError("The new date of a postponed request must be in the future.", field="until")
        reason, report = _clean(reason, "reason"), _clean(report, "report", 4000)
        source = self.status
        if rule.target == Status.POSTPONED:
            self._set("postponed_until", until, actor, channel, now)
        elif source == Status.POSTPONED:
            self._set("postponed_until", None, actor, channel, now)
        if rule.target == Status.DONE:
            self._set("report", report, actor, channel, now)
        if reason:
            self.status_reason = reason
        self.status = rule.target.value
        self._log(actor, channel, now, "status", "status", source, self.status, note=reason)
        if rule.target == Status.ACCEPTED and self.accepted_at is None:
            self.accepted_at = now
        if rule.target == Status.DONE and self.localisation_due_at is not None and self.localised_at is None:
            self._set("localised_at", now, actor, channel, now)  # repaired implies localised
        if rule.target == Status.DONE:
            self.done_at = now
        elif source == Status.DONE and rule.target in OPEN_STATUSES:
            self.done_at = None  # reopened: the work was not done (done -> closed keeps it)
        if rule.target in (Status.CLOSED, Status.CANCELLED):
            self.closed_at = now
        elif source in (Status.DONE,):
            self.closed_at = None
        self._refresh_due()
        self._event("request.status_changed", source=source, target=self.status, reason=reason,
                    actor_role=actor.role)

    def localise(self, actor: Actor, channel: str, now: datetime, *, note: str | None = None) -> None:
        """The emergency is contained (water shut off, power isolated): the localisation deadline is met."""
        if actor.role == "technician" and (self.assignee is None or self.assignee.id != actor.id):
            raise Forbidden("A technician can report only on the requests assigned to him.", field="number")
        if not self.is_open or self.status == Status.NEW:
            raise ValidationError(f"Only an assigned open request can be marked localised; this one is "
                                  f"'{self.status}'.", field="status")
        if self.localised_at is not None:
            raise ValidationError("The request is already marked localised.", field="localised_at")
        self._set("localised_at", now, actor, channel, now)
        self.pending_history[-1].note = _clean(note, "note", 2000)
        self._refresh_due()
        self._event("request.localised", actor_role=actor.role)

    def assign(self, staff: Staff | None, actor: Actor, channel: str, now: datetime, *, reason: str | None = None):
        """Assign a technician (or unassign with None). Assigning puts the request into 'assigned'."""
        if actor.role == "technician":
            raise Forbidden("A technician cannot assign requests.", field="staff_id")
        if staff is not None:
            if staff.org_id != self.org_id:
                raise CrossOrganisation("The staff member belongs to another organisation.", field="staff_id")
            if staff.role != "technician" or not staff.active:
                raise ValidationError(f"{staff.full_name} is not an active technician and cannot be assigned.",
                                      field="staff_id")
        target = Status.ASSIGNED if staff is not None else Status.NEW
        check_transition(self.status, target, role=actor.role, via="assignment")
        previous = self.assignee
        if previous is staff and staff is not None and self.status == Status.ASSIGNED:
            return
        source = self.status
        self.assignee = staff
        self.assigned_at = now if staff is not None else None
        self.accepted_at = None  # the new assignee has not accepted yet
        if staff is not None:
            staff.last_assigned_at = now
        self._log(actor, channel, now, "assignment", "assignee",
                  previous.full_name if previous else None, staff.full_name if staff else None, note=reason)
        if source != target.value:
            self.status = target.value
            self._log(actor, channel, now, "status", "status", source, self.status)
        self._refresh_due()
        self._event("request.assigned", staff_id=staff.id if staff else None,
                    previous_staff_id=previous.id if previous else None, reason=reason)

    def flag(self, attention: str | None, actor: Actor, channel: str, now: datetime, *, note: str | None = None):
        """Say why the dispatcher must look at the request (e.g. "no_candidate"), or clear it with None. While the
        request is being registered, the flag and its note become part of the registration's entry and event."""
        if self.pending_history and self.pending_history[0].kind == "created" and attention is not None:
            self.attention = attention
            self.pending_history[0].note = note
            self.pending_events[0].data.update(attention=attention, note=note)
        elif self._set("attention", attention, actor, channel, now):
            self.pending_history[-1].note = note
            self._event("request.attention", attention=attention, note=note)

    def update(self, changes: dict, actor: Actor, channel: str, now: datetime, *, building: Building | None = None,
               building_given: bool = False, known_work_types: frozenset[str] | None = None,
               phone_region: str = DEFAULT_REGION) -> list[str]:
        """Correct fields (a dispatcher fixing what the machine heard). Returns the names of changed fields.
        The caller's phone is stored in E.164, read in the organisation's phone region; an empty one clears it."""
        if actor.role == "technician":
            raise Forbidden("A technician cannot edit a request's facts.", field="number")
        unknown = set(changes) - set(self.EDITABLE)
        if unknown:
            raise ValidationError(f"These fields cannot be edited: {', '.join(sorted(unknown))}.",
                                  field=sorted(unknown)[0])
        if "description" in changes:
            changes["description"] = _clean(changes["description"], "description", MAX_DESCRIPTION, required=True)
        for name in ("caller_name", "reason"):  # the same limits as at registration
            if name in changes:
                changes[name] = _clean(changes[name], name, 200)
        if "caller_phone" in changes:  # as at registration: E.164, or None
            changes["caller_phone"] = maybe_phone(changes["caller_phone"], region=phone_region, field="caller_phone")
        if "urgency" in changes:
            check_choice(changes["urgency"], URGENCIES, "urgency")
        if "work_type" in changes and known_work_types is not None and changes["work_type"] not in known_work_types:
            raise ValidationError(f"Unknown work type '{changes['work_type']}'.", field="work_type")
        target_building = building if building_given else self.building
        if target_building is not None and target_building.org_id != self.org_id:
            raise CrossOrganisation("The building belongs to another organisation.", field="building")
        place = {k: changes.get(k, getattr(self, k)) for k in ("apartment", "entrance", "floor")}
        if target_building is not None:
            target_building.check_place(**place)
        elif any(v is not None for v in place.values()):
            raise ValidationError("An apartment, entrance or floor needs a building.", field="building")
        changed = []
        if building_given and target_building is not self.building:
            old = self.building.code if self.building else None
            self.building = target_building
            self._log(actor, channel, now, "field", "building", old, target_building.code if target_building else None)
            changed.append("building")
        for name, value in changes.items():
            if self._set(name, value, actor, channel, now):
                changed.append(name)
        if changed:
            self._event("request.updated", fields=changed)
        return changed

    def comment(self, text: str, actor: Actor, channel: str, now: datetime) -> None:
        text = _clean(text, "text", 4000, required=True)
        self._log(actor, channel, now, "comment", None, None, text)
        self._event("request.commented", actor_role=actor.role)

    def staff_call_noted(self, note: str, actor: Actor, channel: str, now: datetime) -> None:
        """A call between staff about this request (a technician and dispatch, telephony/): a line of the history
        ("staff_call"), no event: nobody is told of it."""
        self._log(actor, channel, now, "staff_call", note=_clean(note, "note", 4000, required=True))

    def message_resident(self, text: str, actor: Actor, channel: str, now: datetime) -> None:
        """A message to the resident (from the technician's page): a line of the history, which the resident's page
        shows, and the event "request.resident_messaged", which the notifier texts to the resident's phone."""
        if self.status in FINAL_STATUSES:  # the work is over: nothing more to tell the resident about it
            raise ValidationError(f"The request is '{self.status}'; a message to the resident can no longer be "
                                  f"sent.", field="status")
        text = _clean(text, "text", MAX_RESIDENT_MESSAGE, required=True)
        if not self.caller_phone:
            raise ValidationError("The request has no resident's phone to send a message to.", field="caller_phone")
        self._log(actor, channel, now, "comment", None, None, RESIDENT_NOTE + text)
        self._event("request.resident_messaged", text=text, actor_role=actor.role)

    def link_sent(self, audience: str, actor: Actor, channel: str, now: datetime) -> None:
        """A link to the technician's (or the resident's) page sent by SMS on staff's click: a line of the history
        ("link_sms_tech" / "link_sms_res", the phone in its note) and the event "request.link_sent", which the
        notifier turns into a fresh link and an SMS after commit."""
        if actor.role == "technician":
            raise Forbidden("A technician cannot send links.", field="audience")
        if audience not in ("technician", "resident"):
            raise ValidationError(f"Unknown audience '{audience}'.", field="audience")
        if self.status in FINAL_STATUSES:
            raise ValidationError(f"The request is '{self.status}'; no link is sent any more.", field="status")
        if audience == "technician" and (self.assignee is None or not self.assignee.active):
            raise ValidationError("The request has no active assignee to send a link to.", field="assignee")
        phone = self.assignee.phone if audience == "technician" else self.caller_phone
        if not phone:
            raise ValidationError(f"The {audience} has no phone to send a link to.",
                                  field="assignee_phone" if audience == "technician" else "caller_phone")
        self._log(actor, channel, now, "link_sms_tech" if audience == "technician" else "link_sms_res", note=phone)
        self._event("request.link_sent", audience=audience, actor_role=actor.role,
                    staff_id=self.assignee.id if audience == "technician" else None)

    def attached(self, attachment: "Attachment", actor: Actor, channel: str, now: datetime) -> None:
        if attachment.org_id != self.org_id:
            raise CrossOrganisation("The attachment belongs to another organisation.")
        self._log(actor, channel, now, "attachment", attachment.kind, None, attachment.filename,
                  note=f"sha256:{attachment.sha256}")
        self._event("request.attachment_added", kind=attachment.kind, sha256=attachment.sha256)

    def rate(self, rating: "Rating", actor: Actor, channel: str, now: datetime) -> None:
        if self.status not in (Status.DONE, Status.CLOSED):
            raise ValidationError(f"Only a done or closed request can be rated; this one is '{self.status}'.",
                                  field="score")
        self._log(actor, channel, now, "rating", "rating", None, rating.score, note=rating.comment)
        self._event("request.rated", score=rating.score)


class Attachment:
    def __init__(self, *, org_id: int, request_id: int, kind: str, filename: str, content_type: str, size: int,
                 sha256: str, storage_key: str, created_at: datetime, created_by: str):
        self.org_id = org_id
        self.request_id = request_id
        self.kind = check_choice(kind, ATTACHMENT_KINDS, "kind")
        self.filename = _clean(filename, "filename", 255) or "file"
        self.content_type = content_type
        self.size = size
        self.sha256 = sha256
        self.storage_key = storage_key
        self.created_at = created_at
        self.created_by = created_by


class Rating:
    def __init__(self, *, org_id: int, request_id: int, score: int, comment: str | None, created_at: datetime,
                 phone: str | None = None):
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValidationError(f"A rating is a whole number from 1 to 5, got '{score}'.", field="score")
        self.org_id = org_id
        self.request_id = request_id
        self.score = score
        self.comment = _clean(comment, "comment", MAX_RATING_COMMENT)
        self.created_at = created_at
        self.phone = phone
