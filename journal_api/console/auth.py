"""Sign-in and sign-out; ``signed_in(*roles)`` guards every console page (organisation and role)."""
from __future__ import annotations

import time
from functools import wraps
from urllib.parse import unquote, urlsplit

from flask import Response, abort, g, redirect, render_template, request, session, url_for

from ..domain.errors import DomainError
from ..service.console_auth import ConsoleAuth
from . import SHIFT, clabel, container, ru_error

STAFF = ("dispatcher", "manager", "admin")
# Managers' and admins' only: the analytics (the head of the УК/АДС watches them; they rank the executors) and the
# bulk exports of the journal (up to 100,000 residents' names, phones and flats at once: personal data, 152-ФЗ).
# A dispatcher works request by request and prints the paper journal of his shift.
MANAGERS = ("manager", "admin")


def auth_service() -> ConsoleAuth:
    c = container()
    service = c.__dict__.get("_console_auth")
    if service is None:
        service = c.__dict__["_console_auth"] = ConsoleAuth(c.uow, c.clock)
    return service


def current_user():
    if "user" not in g:
        uid, epoch, since = session.get("uid"), session.get("epoch"), session.get("since")
        fresh = isinstance(since, int) and 0 <= time.time() - since < SHIFT.total_seconds()
        ok = isinstance(uid, int) and isinstance(epoch, int) and fresh
        g.user = auth_service().load(uid, epoch) if ok else None
    return g.user


def may(*roles: str) -> bool:
    """Whether the signed-in user has one of ``roles`` (templates hide what he may not open)."""
    user = current_user()
    return user is not None and user.role in roles


def signed_in(*roles: str, to_login: bool = True):
    """Pages send a signed-out person (or one whose shift's session expired) to the sign-in form. With
    ``to_login=False`` (the board's event stream) the answer is a plain 401 instead: a browser's EventSource then
    closes the stream for good, and board.js reloads the page, which leads to the sign-in form."""
    roles = roles or STAFF

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            user = current_user()
            if user is None and not to_login:
                return Response(clabel("board_texts", "session_expired"), status=401, mimetype="text/plain",
                                headers={"Cache-Control": "no-store"})
            if user is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate


def _safe_next(target: str | None) -> str:
    """Only a path of this site: an open redirect after sign-in would be a phishing aid. Browsers read a backslash
    as a slash (``/\\evil.com`` goes to ``//evil.com``) and drop tabs and line breaks from a URL, so a target with
    a backslash, a control character, a scheme or a host is refused, as typed and once percent-decoded; the board
    is then the target."""
    if not target or not all(_own_path(form) for form in (target, unquote(target))):
        return url_for("console.board")
    return target


def _own_path(target: str) -> bool:
    if "\\" in target or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in target):
        return False
    parts = urlsplit(target)
    return target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc


def routes(bp) -> None:
    @bp.route("/")
    def home():
        """The landing page: the sign-in form (and where the API is), or the board once signed in."""
        if current_user():
            return redirect(url_for("console.board"))
        return render_template("login.html", error=None, next="", org=_default_org(), login="", landing=True)

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        if request.method == "POST":
            try:
                user = auth_service().authenticate(request.form.get("org", ""), request.form.get("login", ""),
                                                   request.form.get("password", ""))
            except DomainError as exc:
                error = ru_error(exc)
            else:
                csrf = session.get("csrf")
                session.clear()  # a fresh session: nothing from before the sign-in survives it
                session.update(uid=user.id, epoch=user.epoch, csrf=csrf, since=int(time.time()))
                session.permanent = True  # the cookie expires with the shift (SHIFT), not only with the browser
                return redirect(_safe_next(request.form.get("next")))
        return render_template("login.html", error=error, next=request.values.get("next", ""),
                               org=request.form.get("org") or _default_org(),
                               login=request.form.get("login", "")), (401 if error else 200)

    @bp.route("/logout", methods=["POST"])
    def logout():
        session.clear()
        return redirect(url_for("console.login"))


def _default_org() -> str:
    """The organisation's code when the deployment serves only one (the form is then one field shorter to fill)."""
    import sqlalchemy as sa

    from ..storage import tables as t

    with container().engine.connect() as conn:
        codes = list(conn.scalars(sa.select(t.organisations.c.code).order_by(t.organisations.c.code).limit(2)))
    return codes[0] if len(codes) == 1 else ""
