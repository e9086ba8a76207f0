"""A request's page and its actions: correction (RequestService.update, channel "dispatcher"), assignment, status,
localisation, comment, the technician's link; the recordings (role-checked, every listen logged) and photos; the
manual registration of a call taken live."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import abort, flash, g, redirect, render_template, request, send_file, session, url_for

from recordings.retention import status_text

from ..domain.errors import DomainError, NotFound
from ..domain.status import allowed_targets
from ..service.requests import NewRequest
from . import clabel, container, data, forms, listens, ru_error
from .auth import signed_in

CHANNEL = "dispatcher"
LINK_TTL = timedelta(days=3)
LINK_SMS_REFUSALS = ("status", "assignee", "assignee_phone", "caller_phone", "sms_opt_out")  # their texts
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg"}


def _load(number: int):
    try:
        return container().requests.get(g.user.org_id, number, g.user.actor)
    except NotFound:
        abort(404)


def _opt_int(value: str | None, field: str):
    """An optional whole number of the form; ``field`` names it in the refusal (console_ru.json "number_fields")."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise DomainError(clabel("form_messages", "not_a_number").format(name=clabel("number_fields", field))) \
            from None


def _local_input(value: str | None):
    """A ``datetime-local`` field in the organisation's zone -> aware UTC, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(g.user.timezone))
    except ValueError:
        raise DomainError(clabel("form_messages", "bad_date")) from None


def _act(number: int, action, success: str):
    try:
        action()
    except DomainError as exc:
        flash(ru_error(exc), "error")
    else:
        flash(success, "ok")
    return redirect(url_for("console.request_page", number=number))


def _recordings(org_id: int, request_id: int) -> list[dict]:
    recs = data.recordings(org_id, request_id)
    texts = data.transcripts(org_id, [r["id"] for r in recs], request_id)
    for rec in recs:
        rec["transcript"] = texts.pop(rec["id"], None)
        rec["note"] = status_text("purged") if rec.get("purged_at") is not None else None
    loose = list(texts.values())  # transcripts without a recording of this request (e.g. a live one)
    return recs + [{"id": None, "transcript": tr, "kind": tr.get("kind")} for tr in loose]


def _facts(org_id: int, request_id: int) -> list[dict]:
    """The extracted facts as a dispatcher reads them: Russian field names and values (да/нет, the work type's and
    urgency's names, the registry's address for the building found)."""
    found = data.facts(org_id, request_id)
    buildings = {b["id"]: data.address(_Place(b)) for b in data.building_choices(org_id)} \
        if any(f["field"] == "building_pk" for f in found) else {}
    for f in found:
        value, name = f["value"], f["field"]
        if isinstance(value, bool):
            value = clabel("yes_no", str(value).lower())
        elif name == "work_type":
            value = clabel("work_types", value)
        elif name == "urgency":
            value = clabel("urgencies", value)
        elif name == "building_pk":
            value = buildings.get(value, value)
        f["label"] = clabel("fact_fields", name) or name
        f["shown"] = "" if value is None else value
    return found


class _Place:
    def __init__(self, row: dict):
        self.street, self.house, self.korpus = row["street"], row["house"], row.get("korpus")


def _page(number: int, posted=None, error: str | None = None):
    """The request's page; after a refused correction, with the dispatcher's input kept and the error shown."""
    user, c = g.user, container()
    r = _load(number)
    history = c.requests.history(user.org_id, number, user.actor)
    notes = [h.note for h in history if h.kind == "assignment" and h.note]
    work_types = [(w.code, w.name) for w in c.registry.list_work_types(user.org_id)]
    made = session.get("new_link")
    if isinstance(made, dict) and made.get("number") == number:  # shown once, on this request's next page only
        session.pop("new_link")
    else:
        made = None
    return render_template(
        "request.html", r=r, history=history, assignment_note=notes[-1] if notes else "",
        attachments=c.requests.attachments(user.org_id, number, user.actor),
        rating=c.requests.rating(user.org_id, number, user.actor), recordings=_recordings(user.org_id, r.id),
        facts=_facts(user.org_id, r.id), messages=data.messages(user.org_id, r.id),
        calls=data.calls_of_request(user.org_id, r.id), links=c.links.of_request(user.org_id, r.id),
        targets=[s.value for s in allowed_targets(r.status, user.role)],
        technicians=data.staff_choices(user.org_id, "technician"),
        buildings=data.building_choices(user.org_id, keep=r.building.id if r.building else None),
        work_types=work_types, reason_groups=forms.reason_groups(work_types),
        edit=forms.edit_values(r, posted), edit_error=error,
        address=data.address(r.building), now=c.clock(), names=data.staff_names(user.org_id),
        new_link=made["url"] if made else None), (422 if error else 200)


def _corrections(r, f) -> tuple[dict, bool, int | None]:
    """(the changed fields, whether the building changed, the building posted) of the edit form."""
    changes = {}
    for name in ("description", "caller_name"):
        if name in f and (f[name].strip() or None) != getattr(r, name):
            changes[name] = f[name].strip() or None
    if forms.reason_posted(f) and forms.posted_reason(f) != r.reason:
        changes["reason"] = forms.posted_reason(f)
    if "caller_phone" in f and f["caller_phone"].strip() != (r.caller_phone or ""):
        changes["caller_phone"] = f["caller_phone"].strip() or None
    for name in ("work_type", "urgency"):
        if f.get(name) and f[name] != getattr(r, name):
            changes[name] = f[name]
    for name in ("apartment", "entrance", "floor"):
        if name in f and _opt_int(f[name], name) != getattr(r, name):
            changes[name] = _opt_int(f[name], name)
    forms.follow_reason(r, changes)
    building = _opt_int(f.get("building"), "building")
    moved = "building" in f and building != (r.building.id if r.building else None)
    return changes, moved, building


def routes(bp) -> None:
    @bp.route("/requests/<int:number>")
    @signed_in()
    def request_page(number: int):
        return _page(number)


    @bp.route("/requests/<int:number>/edit", methods=["POST"])
    @signed_in()
    def request_edit(number: int):
        r, f = _load(number), request.form
        try:
            changes, moved, building = _corrections(r, f)
            if not changes and not moved:
                raise DomainError(clabel("form_messages", "nothing_changed"))
            container().requests.update(g.user.org_id, number, g.user.actor, CHANNEL, changes,
                                        building_id=building, building_given=moved)
        except DomainError as exc:  # the form again, with what he typed and why it was refused
            return _page(number, posted=f, error=ru_error(exc))
        flash(clabel("form_messages", "corrections_saved"), "ok")
        return redirect(url_for("console.request_page", number=number))

    @bp.route("/requests/<int:number>/assign", methods=["POST"])
    @signed_in()
    def request_assign(number: int):
        _load(number)
        who, reason = request.form.get("staff", ""), request.form.get("reason", "").strip() or None
        c, user = container(), g.user

        def assign():
            if who == "auto":
                c.requests.auto_assign(user.org_id, number, user.actor)
            else:
                c.requests.assign(user.org_id, number, user.actor, CHANNEL, _opt_int(who, "assignee"),
                                  reason=reason)
        return _act(number, assign, clabel("form_messages", "assignment_saved"))

    @bp.route("/requests/<int:number>/status", methods=["POST"])
    @signed_in()
    def request_status(number: int):
        _load(number)
        f, user = request.form, g.user

        def change():
            container().requests.transition(user.org_id, number, user.actor, CHANNEL, f.get("to", ""),
                                            reason=f.get("reason", "").strip() or None,
                                            until=_local_input(f.get("until")),
                                            report=f.get("report", "").strip() or None)
        return _act(number, change, clabel("form_messages", "status_changed"))

    @bp.route("/requests/<int:number>/localise", methods=["POST"])
    @signed_in()
    def request_localise(number: int):
        _load(number)
        user = g.user
        return _act(number, lambda: container().requests.localise(user.org_id, number, user.actor, CHANNEL,
                                                                  note=request.form.get("note") or None),
                    clabel("form_messages", "localised"))

    @bp.route("/requests/<int:number>/comment", methods=["POST"])
    @signed_in()
    def request_comment(number: int):
        _load(number)
        user = g.user
        return _act(number, lambda: container().requests.comment(user.org_id, number, user.actor, CHANNEL,
                                                                 request.form.get("text", "")),
                    clabel("form_messages", "comment_added"))

    @bp.route("/requests/<int:number>/links", methods=["POST"])
    @signed_in()
    def request_links(number: int):
        r, user, c = _load(number), g.user, container()
        revoke = request.form.get("revoke")
        if revoke:
            owned = {link["id"] for link in c.links.of_request(user.org_id, r.id)}
            if _opt_int(revoke, "link") not in owned:
                abort(404)
            c.links.revoke(int(revoke), org_id=user.org_id)
            flash(clabel("form_messages", "link_revoked"), "ok")
            return redirect(url_for("console.request_page", number=number))
        audience = "resident" if request.form.get("audience") == "resident" else "technician"
        if audience == "technician" and r.assignee is None:
            flash(clabel("form_messages", "assign_first"), "error")
            return redirect(url_for("console.request_page", number=number))
        path = c.links.issue(user.org_id, r.id, audience=audience,
                             subject_id=r.assignee.id if audience == "technician" else None, ttl=LINK_TTL)
        flash(clabel("form_messages", "link_made"), "ok")
        session["new_link"] = {"number": number, "url": c.settings.effective_public_url + path}  # not in the URL
        return redirect(url_for("console.request_page", number=number))

    @bp.route("/requests/<int:number>/links/sms", methods=["POST"])
    @signed_in()
    def request_link_sms(number: int):
        """A fresh link sent by SMS to the assignee or the caller: queued by the notifier after commit."""
        _load(number)
        user = g.user
        try:
            container().requests.send_link(user.org_id, number, user.actor, CHANNEL, request.form.get("audience", ""))
        except DomainError as exc:
            flash(clabel("link_sms", exc.field) if exc.field in LINK_SMS_REFUSALS else ru_error(exc), "error")
        else:
            flash(clabel("link_sms", "queued"), "ok")
        return redirect(url_for("console.request_page", number=number))

    @bp.route("/recordings/<int:recording_id>/audio")
    @signed_in()
    def recording_audio(recording_id: int):
        user = g.user
        rec = data.recording(user.org_id, recording_id)
        if rec is None:
            abort(404)
        if rec.get("purged_at") is not None:  # deleted by its retention period: gone, not unknown
            abort(410)
        key = rec.get("blob_key") or rec.get("storage_key")
        blobs = container().blobs
        if not key or not blobs.exists(key):
            abort(404)
        with blobs.open(key) as fh:
            path = Path(fh.name)
        if listens.reaches_audio(request.method, request.range, path.stat().st_size,
                                 listens.audio_offset(path, rec.get("format"))):
            listens.log_listen(user.org_id, user, recording_id)
        mimetype = AUDIO_TYPES.get((rec.get("format") or "wav").split("/")[0].lower(), "audio/wav")
        response = send_file(path, mimetype=mimetype, conditional=True, etag=key, max_age=0)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @bp.route("/attachments/<int:attachment_id>")
    @signed_in()
    def attachment_file(attachment_id: int):
        user = g.user
        try:
            att, _ = container().requests.attachment(user.org_id, attachment_id, user.actor)
        except NotFound:
            abort(404)
        return _send_attachment(att)

    @bp.route("/requests/new", methods=["GET", "POST"])
    @signed_in()
    def request_new():
        user, c, f = g.user, container(), request.form
        error = None
        call = _call_of_form(user.org_id, request.values.get("call"))
        if request.method == "POST":
            try:
                if call is not None and call.get("request_number"):
                    raise DomainError(clabel("form_messages", "call_has_request").format(number=call["request_number"]))
                reason = forms.posted_reason(f)
                r = c.requests.register(user.org_id, user.actor, NewRequest(
                    description=f.get("description", ""), work_type=forms.new_work_type(f, reason),
                    urgency=f.get("urgency") or None, channel=f.get("channel") or "phone",
                    caller_phone=f.get("caller_phone") or None, caller_name=f.get("caller_name") or None,
                    building_id=_opt_int(f.get("building"), "building"),
                    apartment=_opt_int(f.get("apartment"), "apartment"),
                    entrance=_opt_int(f.get("entrance"), "entrance"), floor=_opt_int(f.get("floor"), "floor"),
                    reason=reason, answered_at=c.clock()))
            except DomainError as exc:
                error = ru_error(exc)
            else:
                if call is not None:  # the call's recordings and transcripts come with it; the board shows the request
                    c.calls.link_request(user.org_id, call["id"], r.number, user.actor)
                flash(clabel("form_messages", "request_registered").format(number=r.number), "ok")
                return redirect(url_for("console.request_page", number=r.number))
        if request.method == "GET" and call is not None:
            f = {"caller_phone": call.get("from_number") or ""}
        work_types = [(w.code, w.name) for w in c.registry.list_work_types(user.org_id) if w.active]
        return render_template("request_new.html", error=error, form=f, call=call,
                               buildings=data.building_choices(user.org_id), work_types=work_types,
                               reason_groups=forms.reason_groups(work_types),
                               reason=forms.reason_fields(f.get("reason"), f.get("reason_text"))), \
            (422 if error else 200)


def _call_of_form(org_id: int, value: str | None) -> dict | None:
    """The organisation's call a registration is taken from (``?call=`` or the form's hidden field); another
    organisation's or an unknown call is 404."""
    if not value:
        return None
    if not value.isdigit():
        abort(404)
    found = data.call_of(org_id, int(value))
    if found is None:
        abort(404)
    return found


def _send_attachment(att):
    blobs = container().blobs
    with blobs.open(att.storage_key) as fh:
        path = Path(fh.name)
    response = send_file(path, mimetype=att.content_type, conditional=True, etag=att.sha256, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = "inline"
    return response
