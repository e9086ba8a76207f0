"""Escalation endpoints: the organisation's effective ladder, and its overrides of whole tracks.

Everyone but technicians reads the ladder; admins and managers replace a track or return it to the default.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict

from ..service.escalation import EscalationService, track_dict
from .core import ADMIN_ROLES, STAFF_ROLES, endpoint, principal, services

bp = Blueprint("escalation", __name__)
TAG = "escalation"


class TrackIn(BaseModel):
    """A track as in rules/escalation.yaml: statuses, optional until, and the entries per urgency."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "statuses": ["assigned"], "until": "accepted",
        "emergency": [{"at": "assigned+5m", "remind": "assignee"}, {"at": "assigned+15m",
                                                                     "escalate": "dispatcher_on_duty"}],
        "normal": [{"at": "assigned+1h", "remind": "assignee"}]}})


class TrackOut(BaseModel):
    track: str
    overridden: bool
    body: dict[str, Any]


class LadderOut(BaseModel):
    tracks: list[TrackOut]


def _service() -> EscalationService:
    return EscalationService(services().uow)


def _ladder_dict(org_id: int) -> dict:
    ladder, overridden = _service().effective(org_id)
    return {"tracks": [{"track": name, "overridden": name in overridden, "body": track_dict(track)}
                       for name, track in ladder.tracks.items()]}


@endpoint(bp, "GET", "/escalation", summary="The organisation's escalation ladder, per track (overridden marked)",
          roles=STAFF_ROLES, out=LadderOut, tag=TAG)
def get_ladder():
    return _ladder_dict(principal().org_id)


@endpoint(bp, "PUT", "/escalation/{track}", summary="Replace one track of the ladder for the organisation",
          roles=ADMIN_ROLES, body=TrackIn, out=LadderOut, tag=TAG)
def put_track(track: str, body: TrackIn):
    who = principal()
    _service().set_track(who.org_id, who.actor, track, body.model_dump())
    return _ladder_dict(who.org_id)


@endpoint(bp, "DELETE", "/escalation/{track}", summary="Return one track to the default ladder",
          roles=ADMIN_ROLES, status=204, tag=TAG)
def delete_track(track: str):
    who = principal()
    _service().reset_track(who.org_id, who.actor, track)
