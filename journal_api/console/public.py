"""The technician's page (``/t/<token>``) and the resident's page (``/r/<token>``): no sign-in, the signed link is the
key. A link opens its one request only; an unknown link is 404, an expired or revoked one 410; a technician whose
request went to someone else sees that, not the request."""
from __future__ import annotations

import io
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from flask import abort, flash, g, redirect, render_template, request, url_for

from ..domain.errors import DomainError, Forbidden, NotFound
from ..domain.events import Actor
from ..domain.request import MAX_RATING_COMMENT, MAX_RESIDENT_MESSAGE, RESIDENT_NOTE
from ..domain.status import allowed_targets
from ..service.links import Grant
from . import clabel, container, data, photos, ru_error

CHANNEL = "web"
TECH_TARGETS = ("accepted", "postponed", "impossible", "done")


def _grant(token: str, audience: str) -> Grant:
    try:
        grant = container().links.verify(token, audience)
    except NotFound:
        abort(404)
    except Forbidden as exc:
        abort(410, description=ru_error(exc))
    g.page_tz = _org_tz(grant.org_id)
    return grant


def _org_tz(org_id: int) -> str:
    import sqlalchemy as sa

    from ..storage import tables as t

    with container().engine.connect() as conn:
        return conn.scalar(sa.select(t.organisations.c.timezone).where(t.organisations.c.id == org_id))


def _opted_out(org_id: int, phone: str | None) -> bool:
    """Whether the resident said СТОП (the notifier stores his messages as suppressed, sends none)."""
    import sqlalchemy as sa

    from ..storage.tables_messages import sms_opt_outs as o

    with container().engine.connect() as conn:
        return conn.scalar(sa.select(o.c.id).where(o.c.org_id == org_id, o.c.phone == phone)) is not None


def _technician(grant: Grant) -> Actor:
    names = data.staff_names(grant.org_id)
    return Actor(kind="staff", role="technician", id=grant.subject_id,
                 name=names.get(grant.subject_id, clabel("link_actors", "technician")))


def _resident() -> Actor:
    return Actor(kind="resident", role="resident", name=clabel("link_actors", "resident"))


def _map_url(r) -> str:
    if r.building is None:
        return ""
    city = r.building.city.name if getattr(r.building, "city", None) else ""
    return "https://yandex.ru/maps/?text=" + quote(f"{city}, {data.address(r.building)}")


def _dispatch_sip() -> str:
    settings = container().settings
    host = urlsplit(settings.effective_public_url).hostname or settings.web_host
    return f"sip:dispatch@{host}:{settings.sip_port}"


def _tech_request(grant: Grant):
    try:
        return container().requests.get(grant.org_id, grant.request_number, _technician(grant))
    except NotFound:
        return None  # reassigned: the link no longer shows the request


def routes(bp) -> None:
    @bp.route("/t/<token>")
    def tech_page(token: str):
        grant = _grant(token, "technician")
        r = _tech_request(grant)
        if r is None:
            return render_template("tech_gone.html"), 403
        c = container()
        actor = _technician(grant)
        return render_template(
            "tech.html", r=r, token=token, address=data.address(r.building), map_url=_map_url(r),
            sip=_dispatch_sip(), now=c.clock(),
            targets=[s.value for s in allowed_targets(r.status, "technician") if s.value in TECH_TARGETS],
            photos=[a for a in c.requests.attachments(grant.org_id, r.number, actor) if a.kind == "photo"])

    @bp.route("/t/<token>/status", methods=["POST"])
    def tech_status(token: str):
        grant = _grant(token, "technician")
        f = request.form
        try:
            until = None
            if f.get("until"):
                until = datetime.fromisoformat(f["until"]).replace(tzinfo=ZoneInfo(g.page_tz))
            container().requests.transition(grant.org_id, grant.request_number, _technician(grant), CHANNEL,
                                            f.get("to", ""), reason=f.get("reason", "").strip() or None,
                                            until=until, report=f.get("report", "").strip() or None)
        except (DomainError, ValueError) as exc:
            flash(ru_error(exc) if isinstance(exc, DomainError) else clabel("form_messages", "bad_date"), "error")
        else:
            flash(clabel("form_messages", "status_changed"), "ok")
        return redirect(url_for("console.tech_page", token=token))

    @bp.route("/t/<token>/photo", methods=["POST"])
    def tech_photo(token: str):
        grant = _grant(token, "technician")
        uploads = [u for u in request.files.getlist("photo") if u.filename]  # an empty input posts a nameless part
        if not uploads:
            flash(clabel("phone_texts", "choose_photo"), "error")
        elif len(uploads) > photos.MAX_PER_POST:
            flash(clabel("phone_texts", "too_many_photos").format(n=photos.MAX_PER_POST), "error")
        else:
            _store_photos(grant, uploads)
        return redirect(url_for("console.tech_page", token=token))

    @bp.route("/t/<token>/message", methods=["POST"])
    def tech_message(token: str):
        grant = _grant(token, "technician")
        text = request.form.get("text", "").strip()
        try:
            r = container().requests.message_resident(grant.org_id, grant.request_number, _technician(grant),
                                                      CHANNEL, text)
        except DomainError as exc:
            flash(_message_error(exc, text), "error")
        else:
            flash(clabel("phone_texts", "message_opted_out" if _opted_out(grant.org_id, r.caller_phone)
                         else "message_sent"), "ok")
        return redirect(url_for("console.tech_page", token=token))

    @bp.route("/t/<token>/photos/<int:attachment_id>")
    def tech_photo_file(token: str, attachment_id: int):
        grant = _grant(token, "technician")
        return _photo(grant, attachment_id, _technician(grant))

    @bp.route("/r/<token>")
    def resident_page(token: str):
        grant = _grant(token, "resident")
        c, actor = container(), _resident()
        r = c.requests.get(grant.org_id, grant.request_number, actor)
        history = c.requests.history(grant.org_id, r.number, actor)
        notes = [h for h in history if h.kind == "comment" and (h.new_value or "").startswith(RESIDENT_NOTE)]
        return render_template(
            "resident.html", r=r, token=token, address=data.address(r.building), now=c.clock(),
            rating=c.requests.rating(grant.org_id, r.number, actor), notes=notes, comment_max=MAX_RATING_COMMENT,
            photos=[a for a in c.requests.attachments(grant.org_id, r.number, actor) if a.kind == "photo"])

    @bp.route("/r/<token>/rate", methods=["POST"])
    def resident_rate(token: str):
        grant = _grant(token, "resident")
        try:
            score = int(request.form.get("score", ""))
            if not 1 <= score <= 5:
                raise ValueError(score)
            container().requests.rate(grant.org_id, grant.request_number, _resident(), CHANNEL, score,
                                      comment=request.form.get("comment", "").strip()[:MAX_RATING_COMMENT] or None)
        except ValueError:
            flash(clabel("phone_texts", "rating_range"), "error")
        except DomainError as exc:
            flash(ru_error(exc), "error")
        else:
            flash(clabel("phone_texts", "rating_thanks"), "ok")
        return redirect(url_for("console.resident_page", token=token))

    @bp.route("/r/<token>/photos/<int:attachment_id>")
    def resident_photo_file(token: str, attachment_id: int):
        grant = _grant(token, "resident")
        return _photo(grant, attachment_id, _resident())


def _photo(grant: Grant, attachment_id: int, actor: Actor):
    from .request_page import _send_attachment

    try:
        att, r = container().requests.attachment(grant.org_id, attachment_id, actor)
    except NotFound:
        abort(404)
    if r.id != grant.request_id or att.kind != "photo":  # the link opens its one request only
        abort(404)
    return _send_attachment(att)


def _store_photos(grant: Grant, uploads: list) -> None:
    """Each photo of the post is checked and stored on its own: a bad one is refused by its name, the good ones are
    kept (the technician sends again only the refused ones, not the whole set over a poor connection)."""
    limit, saved = container().settings.max_upload_bytes, 0
    for upload in uploads:
        try:
            jpeg = photos.read(upload, limit)
            container().requests.attach(grant.org_id, grant.request_number, _technician(grant), CHANNEL,
                                        kind="photo", filename=_jpeg_name(upload.filename),
                                        content_type="image/jpeg", stream=io.BytesIO(jpeg))
        except DomainError as exc:
            reason = ru_error(exc)
        except ValueError:  # recordings.store.UploadError: too large, empty
            reason = clabel("phone_texts", "photo_not_stored")
        else:
            saved += 1
            continue
        flash(clabel("phone_texts", "photo_refused").format(name=_shown_name(upload.filename), reason=reason), "error")
    if saved:
        flash(clabel("phone_texts", "photo_saved") if saved == 1 and len(uploads) == 1
              else clabel("phone_texts", "photos_saved").format(n=saved), "ok")


def _shown_name(name: str | None) -> str:
    base = (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return base if len(base) <= 60 else base[:57] + "…"


def _message_error(exc: DomainError, text: str) -> str:
    if not text:
        return clabel("phone_texts", "message_empty")
    if getattr(exc, "field", None) == "caller_phone":
        return clabel("phone_texts", "message_no_phone")
    if len(text) > MAX_RESIDENT_MESSAGE:
        return clabel("phone_texts", "message_too_long").format(n=MAX_RESIDENT_MESSAGE)
    return ru_error(exc)


def _jpeg_name(name: str | None) -> str:
    stem = (name or "photo").rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0][:100] or "photo"
    return stem + ".jpg"
