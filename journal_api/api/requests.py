"""Request endpoints: each handler is schema -> service -> dump."""
from __future__ import annotations

import base64

from flask import Blueprint, Response, request

from ..service.queries import RequestFilter
from ..service.requests import NewRequest
from . import request_schemas as s
from .core import ALL_ROLES, STAFF_ROLES, ApiError, endpoint, principal, services
from .dump import attachment_dict, request_dict

bp = Blueprint("requests", __name__)
TAG = "requests"


def _now():
    return services().clock()


@endpoint(bp, "POST", "/requests", summary="Register a request", roles=STAFF_ROLES, body=s.RequestIn,
          out=s.RequestOut, status=201, tag=TAG)
def create_request(body: s.RequestIn):
    who = principal()
    created = services().requests.register(who.org_id, who.actor, NewRequest(**body.model_dump()))
    return request_dict(created, _now())


@endpoint(bp, "GET", "/requests", summary="List requests (Monitor filters, cursor pagination)", roles=ALL_ROLES,
          query=s.RequestQuery, out=s.RequestPage, tag=TAG)
def list_requests(query: s.RequestQuery):
    who = principal()
    filters = RequestFilter(**query.model_dump(exclude={"cursor", "limit"}))
    page = services().requests.list(who.org_id, who.actor, filters, cursor=query.cursor, limit=query.limit)
    now = _now()
    return {"items": [request_dict(r, now) for r in page.items], "next_cursor": page.next_cursor}


@endpoint(bp, "GET", "/requests/{number}", summary="Get a request", out=s.RequestOut, tag=TAG)
def get_request(number: int):
    who = principal()
    return request_dict(services().requests.get(who.org_id, number, who.actor), _now())


@endpoint(bp, "PATCH", "/requests/{number}", summary="Correct a request's facts", roles=STAFF_ROLES,
          body=s.RequestPatch, out=s.RequestOut, tag=TAG)
def patch_request(number: int, body: s.RequestPatch):
    who = principal()
    changes = body.model_dump(exclude_unset=True)
    building_given = "building_id" in changes or "building_code" in changes
    bid, bcode = changes.pop("building_id", None), changes.pop("building_code", None)
    updated = services().requests.update(who.org_id, number, who.actor, "api", changes, building_id=bid,
                                         building_code=bcode, building_given=building_given)
    return request_dict(updated, _now())


@endpoint(bp, "POST", "/requests/{number}/transitions", summary="Move a request to another status",
          body=s.TransitionIn, out=s.RequestOut, tag=TAG)
def transition_request(number: int, body: s.TransitionIn):
    who = principal()
    moved = services().requests.transition(who.org_id, number, who.actor, "api", body.to, reason=body.reason,
                                           until=body.until, report=body.report)
    return request_dict(moved, _now())


@endpoint(bp, "POST", "/requests/{number}/assignment", summary="Assign (or unassign) a technician",
          roles=STAFF_ROLES, body=s.AssignmentIn, out=s.RequestOut, tag=TAG)
def assign_request(number: int, body: s.AssignmentIn):
    who = principal()
    assigned = services().requests.assign(who.org_id, number, who.actor, "api", body.staff_id, reason=body.reason)
    return request_dict(assigned, _now())


@endpoint(bp, "POST", "/requests/{number}/auto-assign", summary="Assign automatically (schedule, load, rotation)",
          roles=STAFF_ROLES, out=s.RequestOut, tag=TAG)
def auto_assign_request(number: int):
    who = principal()
    return request_dict(services().requests.auto_assign(who.org_id, number, who.actor), _now())


@endpoint(bp, "POST", "/requests/{number}/localisation", summary="Report the emergency contained (localised)",
          body=s.LocalisationIn, out=s.RequestOut, tag=TAG)
def localise_request(number: int, body: s.LocalisationIn):
    who = principal()
    localised = services().requests.localise(who.org_id, number, who.actor, "api", note=body.note)
    return request_dict(localised, _now())


@endpoint(bp, "POST", "/requests/{number}/comments", summary="Comment on a request", body=s.CommentIn,
          status=204, tag=TAG)
def comment_request(number: int, body: s.CommentIn):
    who = principal()
    services().requests.comment(who.org_id, number, who.actor, "api", body.text)


@endpoint(bp, "GET", "/requests/{number}/history", summary="The request's append-only history",
          out=list[s.HistoryOut], tag=TAG)
def request_history(number: int):
    who = principal()
    return [vars_of(h, s.HistoryOut) for h in services().requests.history(who.org_id, number, who.actor)]


@endpoint(bp, "POST", "/requests/{number}/rating", summary="The resident's rating (1-5)", roles=STAFF_ROLES,
          body=s.RatingIn, out=s.RatingOut, status=201, tag=TAG)
def rate_request(number: int, body: s.RatingIn):
    who = principal()
    rating = services().requests.rate(who.org_id, number, who.actor, "api", body.score, body.comment, body.phone)
    return vars_of(rating, s.RatingOut)


UPLOAD_SCHEMA = {"type": "object", "required": ["file", "kind"], "properties": {
    "file": {"type": "string", "format": "binary"},
    "kind": {"type": "string", "enum": ["recording", "photo", "document"]},
    "sha256": {"type": "string", "description": "Optional: the checksum the server must find"}}}


@endpoint(bp, "POST", "/requests/{number}/attachments", summary="Upload a recording, photo or document",
          multipart=UPLOAD_SCHEMA, out=s.AttachmentOut, status=201, tag=TAG)
def upload_attachment(number: int):
    who = principal()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(422, "validation_error", "Send the file as multipart/form-data field 'file'.", "file")
    kind = request.form.get("kind", "")
    att = services().requests.attach(who.org_id, number, who.actor, "api", kind=kind, filename=upload.filename,
                                     content_type=upload.mimetype, stream=upload.stream,
                                     expected_sha256=request.form.get("sha256"))
    return attachment_dict(att)


@endpoint(bp, "GET", "/requests/{number}/attachments", summary="List a request's attachments",
          out=list[s.AttachmentOut], tag=TAG)
def list_attachments(number: int):
    who = principal()
    return [attachment_dict(a) for a in services().requests.attachments(who.org_id, number, who.actor)]


@endpoint(bp, "GET", "/attachments/{attachment_id}", summary="Download an attachment (checksum in Digest)",
          raw=True, tag=TAG)
def download_attachment(attachment_id: int):
    who = principal()
    att, _ = services().requests.attachment(who.org_id, attachment_id, who.actor)
    blobs = services().blobs
    digest = base64.b64encode(bytes.fromhex(att.sha256)).decode()
    headers = {"ETag": f'"{att.sha256}"', "Digest": f"sha-256={digest}", "X-Checksum-SHA256": att.sha256,
               "Content-Length": str(att.size),
               "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(att.filename)}"}
    if request.headers.get("If-None-Match") == f'"{att.sha256}"':
        return Response(status=304, headers={"ETag": headers["ETag"]})
    return Response(blobs.iter_chunks(att.storage_key), mimetype=att.content_type, headers=headers)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def vars_of(obj, model) -> dict:
    return {name: getattr(obj, name) for name in model.model_fields}
