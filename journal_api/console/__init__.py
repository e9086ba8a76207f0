"""The dispatcher console, the technician's and the resident's pages (issue 7): server-rendered Flask/Jinja pages.

Every page is Russian and lives in ``templates/``; the little JavaScript there is (the audio player synchronised to
the transcript, the live board's Server-Sent Events, the charts) is in ``static/`` and runs under a Content Security
Policy that forbids inline scripts, so an escaped-but-missed ``<script>`` still could not run.
"""
from __future__ import annotations

import hmac
import json
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, current_app, g, render_template, request, session

from ..catalogue import label
from ..domain.errors import DomainError

CSRF_FIELD = "csrf_token"
SHIFT = timedelta(hours=12)  # a console session's life from the sign-in: a dispatcher's shift
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@lru_cache(maxsize=1)
def _texts() -> dict:
    return json.loads(resources.files("journal_api.catalogue").joinpath("console_ru.json").read_text("utf-8"))


def clabel(section: str, code) -> str:
    """A Russian label of the console's catalogue (journal_api/catalogue/console_ru.json), else the main one."""
    if code in (None, ""):
        return ""
    found = _texts().get(section, {}).get(str(code))
    return found if found is not None else label(section, str(code))


def reason_title(text) -> str:
    """What a reason reads as: a catalogue reason's Russian title for its code (``water.pipe_burst`` -> its title in
    journal_api/rules), free text as it was typed."""
    from ..service.deadlines import federal

    reason = federal().book.reasons.get((text or "").strip())
    return reason.title if reason is not None else (text or "")


def ru_error(exc: DomainError) -> str:
    """The message a dispatcher or technician reads: the service's own if it is Russian, else one by its code."""
    if any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in exc.message):
        return exc.message
    text = _texts()["errors"].get(exc.code, _texts()["errors"]["invalid"])
    if exc.field:
        text += clabel("error_texts", "field").format(field=clabel("fields", exc.field))
    return text + "."


def container():
    return current_app.extensions["hotline"]


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    known = session.get("csrf") or ""
    if not known or not hmac.compare_digest(sent.encode(), known.encode()):
        abort(400, description="csrf")


def _tz() -> ZoneInfo:
    user = getattr(g, "user", None)
    zone = getattr(g, "page_tz", None) or (user.timezone if user else None) or container().settings.default_timezone
    return ZoneInfo(zone)


def local(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(_tz()).strftime(fmt)


def remaining(due: datetime | None, now: datetime) -> str:
    """A deadline as a dispatcher says it: "осталось 2 ч 05 мин" or "просрочено на 1 д 3 ч"."""
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    late, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    span = clabel("countdown", "days").format(days=days, hours=hours) if days \
        else clabel("countdown", "hours").format(hours=hours, minutes=f"{minutes:02d}")
    return clabel("countdown", "late" if late else "left").format(span=span)


def create_blueprint() -> Blueprint:
    bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/console/static")
    bp.before_request(_check_csrf)

    @bp.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @bp.app_template_global("csrf_token")
    def _csrf():
        return csrf_token()

    @bp.app_template_filter("local")
    def _local(value, fmt="%d.%m.%Y %H:%M"):
        return local(value, fmt)

    @bp.app_template_global("now_utc")
    def _now():
        return container().clock()

    @bp.app_template_filter("remaining")
    def _remaining(due, now):
        return remaining(due, now)

    @bp.app_template_filter("ru")
    def _ru(code, section):
        return clabel(section, code)

    bp.add_app_template_filter(reason_title, "reason_title")

    from . import auth, journal, live, monitor, public, request_page

    @bp.app_template_global("managing")
    def _managing():
        return auth.may(*auth.MANAGERS)

    for module in (auth, journal, live, monitor, public, request_page):
        module.routes(bp)
    return bp


def register(app: Flask) -> None:
    """Called by the app factory: the console's pages, its error pages and its session cookie. A production app
    with a known or short secret key does not start (:func:`journal_api.config.check_secret`); an empty one is the
    random key kept in the data dir. The cookie is Secure when the public address is https, and a session lasts
    one shift (``SHIFT``) from the sign-in."""
    from ..config import check_secret

    settings = app.extensions["hotline"].settings
    check_secret(settings)
    app.config["SECRET_KEY"] = settings.effective_secret_key
    # Assigned, not setdefault: Flask's own defaults (name "session", SameSite unset) would win over setdefault.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="hotline_session")
    app.config["SESSION_COOKIE_SECURE"] = settings.effective_public_url.startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = SHIFT
    app.register_blueprint(create_blueprint())

    from werkzeug.exceptions import HTTPException

    api_handler = app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)

    def page_error(status: int):
        """A Russian error page. Under the technician's and the resident's links (/t/..., /r/...) it is a phone's page
        without the console's staff menu (whose links lead a technician to a sign-in form), with a way back to the
        link's page when the link itself still works (a form too old, a post too large)."""
        def handler(exc):
            if request.path.startswith("/api/"):  # the API keeps its one JSON error shape
                return api_handler(exc) if api_handler else exc
            parts = request.path.split("/")
            phone = len(parts) > 2 and parts[1] in ("t", "r") and parts[2] != ""
            back = "/".join(parts[:3]) if phone and len(parts) > 3 and status in (400, 413) else ""
            return render_template("error.html", status=status, reason=getattr(exc, "description", ""),
                                   layout="_phone.html" if phone else "base.html", phone=phone, back=back), status
        return handler

    for status in (400, 403, 404, 410, 413):
        app.register_error_handler(status, page_error(status))

