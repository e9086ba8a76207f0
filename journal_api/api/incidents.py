"""Known incidents (issue 8 §3): the dispatcher lists them, confirms a proposed one with a public note and an ETA
(what the IVR tells callers), dismisses one, and closes one (every resident who called gets one SMS).
Handlers: schema -> service -> dump."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, current_app
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..service.incidents import IncidentService
from .core import STAFF_ROLES, endpoint, principal, services

bp = Blueprint("incidents", __name__)
TAG = "incidents"
Status = Literal["proposed", "open", "closed", "dismissed"]


class IncidentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status | None = None


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_note: str | None = Field(default=None, max_length=500, description="what is known, in Russian")
    eta: AwareDatetime | None = Field(default=None, description="when the service is expected back")


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=300)


class IncidentOut(BaseModel):
    id: int
    status: Status
    work_type: str
    scope: Literal["riser", "building", "street"]
    title: str
    building_ids: list[int]
    public_note: str | None
    eta: datetime | None
    auto: bool = Field(description="opened by the threshold, not by a dispatcher")
    requests_count: int
    request_numbers: list[int]
    first_at: datetime
    last_at: datetime
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    close_note: str | None


class IncidentListOut(BaseModel):
    items: list[IncidentOut]


def _incidents() -> IncidentService:
    ext = current_app.extensions
    if "hotline.incidents" not in ext:
        ext["hotline.incidents"] = IncidentService(services().uow)
    return ext["hotline.incidents"]


@endpoint(bp, "GET", "/incidents", summary="List known incidents, newest first", roles=STAFF_ROLES,
          query=IncidentQuery, out=IncidentListOut, tag=TAG)
def list_incidents(query):
    return {"items": _incidents().find(principal().org_id, status=query.status)}


@endpoint(bp, "GET", "/incidents/{incident_id}", summary="Get an incident with its request numbers",
          roles=STAFF_ROLES, out=IncidentOut, tag=TAG)
def get_incident(incident_id: int):
    return _incidents().get(principal().org_id, incident_id)


@endpoint(bp, "POST", "/incidents/{incident_id}/open", summary="Confirm a proposed incident, or change the public "
          "note and ETA of an open one (the IVR announces it)", roles=STAFF_ROLES, body=OpenBody, out=IncidentOut,
          tag=TAG)
def open_incident(incident_id: int, body):
    who = principal()
    return _incidents().open(who.org_id, incident_id, who.actor, public_note=body.public_note, eta=body.eta)


@endpoint(bp, "POST", "/incidents/{incident_id}/dismiss", summary="Not an incident: never announced",
          roles=STAFF_ROLES, out=IncidentOut, tag=TAG)
def dismiss_incident(incident_id: int):
    who = principal()
    return _incidents().dismiss(who.org_id, incident_id, who.actor)


@endpoint(bp, "POST", "/incidents/{incident_id}/close", summary="Close an open incident: one SMS to every resident "
          "who called about it", roles=STAFF_ROLES, body=CloseBody, out=IncidentOut, tag=TAG)
def close_incident(incident_id: int, body):
    who = principal()
    return _incidents().close(who.org_id, incident_id, who.actor, note=body.note)
