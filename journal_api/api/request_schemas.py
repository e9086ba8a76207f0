"""Schemas of the request endpoints."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .core import MAX_ID

WorkTypeCode = str
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Urgency = Literal["emergency", "normal"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give the time zone, e.g. 2026-01-31T10:00:00+03:00")
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("give a date between the years 1 and 9999 in UTC") from None
    return value


class RequestIn(Strict):
    description: str = Field(min_length=1, max_length=4000)
    work_type: WorkTypeCode = "other"
    urgency: Urgency | None = Field(default=None, description="Omitted: the urgency of the catalogue reason given "
                                    "in 'reason', else normal.")
    channel: Literal["phone", "sms", "api", "dispatcher"] = "api"
    caller_phone: str | None = None
    caller_name: str | None = Field(default=None, max_length=200)
    building_id: Id | None = None
    building_code: str | None = None
    apartment: int | None = None
    entrance: int | None = None
    floor: int | None = None
    reason: str | None = Field(default=None, max_length=200, description="A reason code of the catalogue "
                               "(GET /reasons), which sets the legal deadlines, or free text.")
    answered_at: datetime | None = None

    _aware = field_validator("answered_at")(_aware)


class RequestPatch(Strict):
    description: str | None = Field(default=None, min_length=1, max_length=4000)
    work_type: WorkTypeCode | None = None
    urgency: Urgency | None = None
    apartment: int | None = None
    entrance: int | None = None
    floor: int | None = None
    caller_name: str | None = None
    caller_phone: str | None = Field(default=None, max_length=64)  # normalised in the organisation's region; "" clears
    reason: str | None = None
    building_id: Id | None = None
    building_code: str | None = None


class TransitionIn(Strict):
    to: Literal["accepted", "postponed", "impossible", "done", "closed", "cancelled"]
    reason: str | None = Field(default=None, max_length=2000)
    until: datetime | None = None
    report: str | None = Field(default=None, max_length=4000)

    _aware = field_validator("until")(_aware)


class AssignmentIn(Strict):
    staff_id: Id | None = Field(description="The technician; null unassigns the request.")
    reason: str | None = Field(default=None, max_length=500)


class LocalisationIn(Strict):
    note: str | None = Field(default=None, max_length=2000)


class CommentIn(Strict):
    text: str = Field(min_length=1, max_length=4000)


class RatingIn(Strict):
    score: int = Field(ge=1, le=5, strict=True, description="A whole number from 1 to 5.")
    comment: str | None = Field(default=None, max_length=1000)
    phone: str | None = None


class RequestQuery(Strict):
    status: list[str] | None = None
    work_type: list[str] | None = None
    urgency: Urgency | None = None
    building_id: Id | None = None
    complex_id: Id | None = None
    city_id: Id | None = None
    assignee_id: Id | None = None
    unassigned: bool = False
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    overdue: bool = False
    q: str | None = Field(default=None, max_length=200)
    sort: Literal["-registered_at", "registered_at", "due_at"] = "-registered_at"
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=200)

    _aware = field_validator("registered_from", "registered_to")(_aware)


class Deadline(BaseModel):
    due_at: datetime | None
    clause: str | None


class StaffRef(BaseModel):
    id: int
    full_name: str
    phone: str


class BuildingRef(BaseModel):
    id: int
    code: str
    address: str
    city: str
    complex: str | None


class RequestOut(BaseModel):
    number: int
    status: str
    status_label: str
    channel: str
    description: str
    work_type: str
    urgency: str
    reason: str | None
    caller_phone: str | None
    caller_name: str | None
    building: BuildingRef | None
    apartment: int | None
    entrance: int | None
    floor: int | None
    assignee: StaffRef | None
    answered_at: datetime | None
    registered_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    done_at: datetime | None = Field(default=None, description="When the work was done (status 'done'); kept "
                                     "once closed, cleared if the request is reopened.")
    localisation: Deadline
    repair: Deadline
    due_at: datetime | None
    overdue: bool
    deadline_rule: str | None
    postponed_until: datetime | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    localised_at: datetime | None
    attention: str | None
    status_reason: str | None
    report: str | None
    version: int


class RequestPage(BaseModel):
    items: list[RequestOut]
    next_cursor: str | None


class HistoryOut(BaseModel):
    at: datetime
    actor_kind: str
    actor_role: str
    actor_id: int | None
    actor_name: str
    channel: str
    kind: str
    field: str | None
    old_value: str | None
    new_value: str | None
    note: str | None


class AttachmentOut(BaseModel):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    created_by: str
    url: str


class RatingOut(BaseModel):
    score: int
    comment: str | None
    created_at: datetime
