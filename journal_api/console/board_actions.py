"""The dispatcher's decisions on the live board (issue 8): known incidents (confirm a proposed one and set what
callers are told, dismiss it, close an open one) go through :class:`IncidentService`, the single write path with
its audit trail; callback tasks and staff voice messages are marked done through ``CallService.callback_done``.
Every POST carries the CSRF token (checked for the whole console); another organisation's incident or call is 404."""
from __future__ import annotations

from functools import lru_cache

from flask import abort, flash, g, redirect, render_template, request, url_for

from ivr_flows.prompts import load_catalogue_file

from ..catalogue import label
from ..domain.errors import DomainError, NotFound
from ..service.incidents import IncidentService
from . import clabel, container, local, ru_error
from .auth import signed_in
from .request_page import _local_input


def service() -> IncidentService:
    c = container()
    found = c.__dict__.get("_console_incidents")
    if found is None:
        found = c.__dict__["_console_incidents"] = IncidentService(c.uow)
    return found


@lru_cache(maxsize=1)
def _prompts() -> dict:
    return load_catalogue_file()


def announcement(work_type: str, eta) -> str:
    """What the IVR tells a caller from an affected building (the prompts' texts: ivr_flows/prompts/catalogue.yaml)."""
    prompts = _prompts()
    text = (prompts.get(f"incident/{work_type}") or prompts["incident/other"]).text
    if eta is not None:
        text += f" {prompts['ivr/incident_eta'].text} {local(eta)}."
    return f"{text} {prompts['ivr/incident_add_request'].text}"


def row(x: dict) -> dict:
    """An incident as the board shows it (JSON for the Server-Sent Events, and the first render)."""
    return {"id": x["id"], "status": x["status"], "status_text": clabel("incident_statuses", x["status"]),
            "place": x["title"].partition(": ")[2] or x["title"], "scope": clabel("incident_scopes", x["scope"]),
            "work_type": label("work_types", x["work_type"]), "count": x["requests_count"],
            "since": local(x["opened_at"] or x["created_at"]), "auto": bool(x["auto"]),
            "announce": announcement(x["work_type"], x["eta"]), "note": x["public_note"] or "", "eta": local(x["eta"])}


def incidents(org_id: int) -> list[dict]:
    return [row(x) for x in service().active(org_id)]


def _act(action, done: str, back: str):
    try:
        result = action()
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(ru_error(exc), "error")
    else:
        flash(clabel("board_actions", result or done), "ok")
    return redirect(back)


def _back(incident_id: int) -> str:
    if request.form.get("back") == "incident":
        return url_for("console.incident_page", incident_id=incident_id)
    return url_for("console.board")


def routes(bp) -> None:
    @bp.route("/board/incidents/<int:incident_id>")
    @signed_in()
    def incident_page(incident_id: int):
        try:
            x = service().get(g.user.org_id, incident_id)
        except NotFound:
            abort(404)
        return render_template("incident.html", x=x, view=row(x), eta_value=local(x["eta"], "%Y-%m-%dT%H:%M"))

    @bp.route("/board/incidents/<int:incident_id>/open", methods=["POST"])
    @signed_in()
    def incident_open(incident_id: int):
        f, user = request.form, g.user

        def confirm():
            before = service().get(user.org_id, incident_id)["status"]
            note = f["public_note"].strip() if "public_note" in f else None
            service().open(user.org_id, incident_id, user.actor, public_note=note, eta=_local_input(f.get("eta")))
            return "update" if before == "open" else "open"
        return _act(confirm, "open", _back(incident_id))

    @bp.route("/board/incidents/<int:incident_id>/dismiss", methods=["POST"])
    @signed_in()
    def incident_dismiss(incident_id: int):
        return _act(lambda: service().dismiss(g.user.org_id, incident_id, g.user.actor) and None, "dismiss",
                    _back(incident_id))

    @bp.route("/board/incidents/<int:incident_id>/close", methods=["POST"])
    @signed_in()
    def incident_close(incident_id: int):
        note = request.form.get("note", "").strip() or None
        return _act(lambda: service().close(g.user.org_id, incident_id, g.user.actor, note=note) and None, "close",
                    _back(incident_id))

    @bp.route("/board/callbacks/<int:call_id>/done", methods=["POST"])
    @signed_in()
    def callback_done(call_id: int):
        return _act(lambda: container().calls.callback_done(g.user.org_id, call_id, g.user.actor), "callback_done",
                    url_for("console.board"))
