"""Call endpoints (issue 4): the calls list for the ПП 416 answer-time report (each call with its recordings and its
request), one call, the audio of a recording (every listen audited), and closing a callback task. Handlers:
schema -> service -> dump."""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

from flask import Blueprint, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from ..service.call_queries import CallFilter
from .core import ALL_ROLES, STAFF_ROLES, endpoint, principal, services

bp = Blueprint("calls", __name__)
TAG = "calls"
CallStatus = Literal["ringing", "answered", "missed", "abandoned", "over_capacity", "failed"]

# "from" and "to" are the caller's and the dialled number (a part of it is enough); they are Python keywords, so the
# model is built with create_model.
CallQuery = create_model(
    "CallQuery", __config__=ConfigDict(extra="forbid"),
    **{"from": (str | None, Field(default=None, max_length=64, description="part of the caller's number")),
       "to": (str | None, Field(default=None, max_length=64, description="part of the dialled number (DID)")),
       "status": (CallStatus | None, None),
       "period": (Literal["1h", "24h", "7d", "30d"] | None, Field(default=None, description="arrived within")),
       "since": (AwareDatetime | None, None), "until": (AwareDatetime | None, None),
       "has_request": (bool | None, None),
       "callback": (Literal["pending", "done"] | None, Field(default=None, description="ПП 416 callback tasks")),
       "cursor": (str | None, None), "limit": (int, Field(default=50, ge=1, le=200))})


class RecordingOut(BaseModel):
    id: int
    call_id: int | None
    request_id: int | None
    kind: str
    sha256: str
    size: int
    duration_s: float
    format: str
    sample_rate: int
    created_at: datetime
    purged_at: datetime | None = Field(description="when the retention job deleted the audio ([recordings] "
                                       "retention_days); the facts stay")
    note: str | None = Field(description="the recording's state in Russian, e.g. deleted by its retention period")
    audio_url: str | None = Field(description="the audio; null once the recording is purged")


class CallRequestOut(BaseModel):
    id: int
    number: int
    status: str
    work_type: str
    urgency: str
    due_at: datetime | None


class CallOut(BaseModel):
    id: int
    sip_call_id: str | None
    call_uuid: str | None
    direction: str
    from_number: str | None
    to_number: str | None
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    answer_seconds: float | None = Field(description="from arrival to answer (ПП 416 п.13)")
    status: str
    hangup_cause: str | None
    ivr_path: list[str]
    digits: list[str]
    request_id: int | None
    request_number: int | None
    worker: str | None
    callback_reason: str | None
    callback_due_at: datetime | None
    callback_done_at: datetime | None
    request: CallRequestOut | None
    recordings: list[RecordingOut]


class CallDetailOut(CallOut):
    pass


class CallPageOut(BaseModel):
    items: list[CallOut]
    next_cursor: str | None


@endpoint(bp, "GET", "/calls", summary="List calls, newest first (filters, cursor pagination)", roles=STAFF_ROLES,
          query=CallQuery, out=CallPageOut, tag=TAG)
def list_calls(query):
    who = principal()
    q = query.model_dump()
    f = CallFilter(from_number=q["from"], to_number=q["to"], status=q["status"], period=q["period"],
                   since=q["since"], until=q["until"], has_request=q["has_request"], callback=q["callback"])
    page = services().calls.list_calls(who.org_id, f, cursor=q["cursor"], limit=q["limit"])
    return {"items": [_call(c) for c in page.items], "next_cursor": page.next_cursor}  # recordings: one query


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime
    until: AwareDatetime


class CallbackFigures(BaseModel):
    requested: int
    done: int
    done_in_time: int
    overdue: int


class SummaryOut(BaseModel):
    since: datetime
    until: datetime
    calls: int
    by_status: dict[str, int]
    answered: int
    answered_within_5_min: int
    answer_seconds_p50: float | None
    answer_seconds_p95: float | None
    answer_seconds_max: float | None
    callbacks: CallbackFigures


@endpoint(bp, "GET", "/calls/summary", summary="ПП 416 figures of a period: calls by status, answer times, "
          "callback tasks", roles=STAFF_ROLES, query=SummaryQuery, out=SummaryOut, tag=TAG)
def calls_summary(query: SummaryQuery):
    return services().calls.summary(principal().org_id, query.since, query.until)


class RecordingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: int = Field(ge=1, le=2 ** 31 - 1, description="the request's number")


@endpoint(bp, "GET", "/recordings", summary="The recordings of a request (?request=<number>)",
          roles=ALL_ROLES, query=RecordingQuery, out=list[RecordingOut], tag=TAG)
def request_recordings(query: RecordingQuery):
    who = principal()
    request = services().requests.get(who.org_id, query.request, who.actor)  # a technician: only his own
    return [_recording(r) for r in services().calls.recordings_of_request(who.org_id, request.id)]


@endpoint(bp, "GET", "/calls/{call_id}", summary="Get a call with its recordings and its request",
          roles=STAFF_ROLES, out=CallDetailOut, tag=TAG)
def get_call(call_id: int):
    return _call(services().calls.get_call(principal().org_id, call_id))


@endpoint(bp, "POST", "/calls/{call_id}/callback-done", summary="Mark the call's callback task done",
          roles=STAFF_ROLES, out=CallDetailOut, tag=TAG)
def callback_done(call_id: int):
    who = principal()
    services().calls.callback_done(who.org_id, call_id, who.actor)
    return get_call.__wrapped__(call_id=call_id)


@endpoint(bp, "GET", "/recordings/{recording_id}/audio", summary="Listen to a recording (WAV; every listen is "
          "written to the audit log; a technician only those of his requests)", roles=ALL_ROLES, raw=True, tag=TAG)
def recording_audio(recording_id: int):
    who = principal()
    rec, stream = services().calls.open_recording(who.org_id, recording_id, who.actor)
    digest = base64.b64encode(bytes.fromhex(rec["sha256"])).decode()

    def chunks():
        with stream:
            while chunk := stream.read(64 * 1024):
                yield chunk

    return Response(chunks(), mimetype="audio/wav", headers={
        "Content-Length": str(rec["size"]), "ETag": f'"{rec["sha256"]}"', "Digest": f"sha-256={digest}",
        "X-Checksum-SHA256": rec["sha256"], "Cache-Control": "private, no-store",
        "Content-Disposition": f'inline; filename="recording-{recording_id}.wav"'})


def _call(c: dict) -> dict:
    answered = (c["answered_at"] - c["arrived_at"]).total_seconds() if c["answered_at"] else None
    return {**c, "answer_seconds": answered, "recordings": [_recording(r) for r in c["recordings"]]}


def _recording(r: dict) -> dict:
    return {**r, "audio_url": None if r["purged_at"] else f"/api/v1/recordings/{r['id']}/audio"}
