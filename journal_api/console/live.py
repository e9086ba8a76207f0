"""The live board: known incidents (proposed and open: issue 8 §3), calls waiting for a callback or a staff voice
message, calls in progress and just finished (with their live transcript when there is one), new, unassigned and
overdue requests. The page renders once, then Server-Sent Events push a fresh snapshot whenever it changes (checked
every ``POLL`` seconds); a stream lasts ``STREAM_FOR`` seconds and the browser reconnects by itself. A stream asked for
without a session (the shift's sign-in expired) is answered 401: the browser then closes it for good, and board.js
says so and reloads the page, which leads to the sign-in form.

A stream holds a web thread while it lasts, and a gunicorn process has only ``WEB_THREADS`` (4) of them: eight open
boards would hold every thread of two processes and leave the technician's page and everyone else waiting. So a
process serves at most ``MAX_STREAMS`` streams at once; a board beyond them gets one snapshot and ``retry: POLL_BUSY``
(the browser's EventSource comes back by itself), i.e. it polls instead of streaming, and the other threads stay free
for pages. The dispatcher's decisions on incidents and callbacks: :mod:`.board_actions`."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Response, g, render_template, request, stream_with_context

from ..catalogue import label
from ..domain.status import OPEN_STATUSES
from ..storage import tables as t
from . import board_actions, clabel, container, data, local
from .auth import signed_in

POLL = 2.0
STREAM_FOR = 25.0
POLL_BUSY_MS = 3000  # a board beyond MAX_STREAMS asks again after this long
RECENT_CALLS = timedelta(minutes=15)
LIMIT = 20
OPEN = sorted(s.value for s in OPEN_STATUSES)


def _requests(org_id: int, where, order) -> list[dict]:
    c, b = t.requests.c, t.buildings.c
    stmt = (sa.select(c.number, c.registered_at, c.due_at, c.status, c.urgency, c.work_type, c.description,
                      c.apartment, c.attention, b.street, b.house, b.korpus, t.staff.c.full_name)
            .select_from(t.requests.outerjoin(t.buildings, b.id == c.building_id)
                         .outerjoin(t.staff, t.staff.c.id == c.assignee_id))
            .where(c.org_id == org_id, *where).order_by(*order).limit(LIMIT))
    with container().engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [{"number": r.number, "registered": local(r.registered_at), "due": local(r.due_at),
             "status": label("statuses", r.status), "urgency": r.urgency,
             "work_type": label("work_types", r.work_type), "description": r.description[:200],
             "address": data.address(r) if r.street else "", "apartment": r.apartment,
             "assignee": r.full_name or "", "attention": clabel("attention", r.attention)} for r in rows]


def _callbacks(org_id: int, now) -> list[dict]:
    return [{"id": x["id"], "from": x.get("from_number") or "", "tel": dialable(x.get("from_number")),
             "arrived": local(x.get("arrived_at")),
             "reason": clabel("callback_reasons", x.get("callback_reason")), "due": local(x.get("callback_due_at")),
             "late": bool(x.get("callback_due_at") and x["callback_due_at"] < now),
             "request": x.get("request_number"), "voicemail": x.get("voicemail_id")}
            for x in data.callbacks(org_id)]


def dialable(number: str | None) -> str:
    """A caller's number as a ``tel:`` link's target (digits, a leading +), or "" for a hidden or odd caller ID."""
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    if not 3 <= len(digits) <= 15 or any(not (ch.isdigit() or ch in "+-() ") for ch in number):
        return ""
    return ("+" if number.strip().startswith("+") else "") + digits


def snapshot(org_id: int) -> dict:
    c = t.requests.c
    now = container().clock()
    calls = data.live_calls(org_id, now - RECENT_CALLS)
    return {
        "incidents": board_actions.incidents(org_id),
        "callbacks": _callbacks(org_id, now),
        "calls": [{"id": x["id"], "from": x.get("from_number") or "", "arrived": local(x.get("arrived_at")),
                   "status": clabel("call_statuses", "in_progress" if x.get("ended_at") is None else x.get("status")),
                   "transcript": (x.get("transcript") or "")[-500:], "request": x.get("request_number")}
                  for x in calls],
        "new": _requests(org_id, [c.status == "new"], [c.registered_at.desc()]),
        "unassigned": _requests(org_id, [c.status.in_(OPEN), c.assignee_id.is_(None)], [c.registered_at.desc()]),
        "overdue": _requests(org_id, [c.status.in_(OPEN), c.due_at < now], [c.due_at.asc()]),
    }


def max_streams() -> int:
    """Streams a web process serves at once: half its threads (journal_api.serve.WEB_THREADS), at least one."""
    from ..serve import WEB_THREADS

    return max(1, WEB_THREADS // 2)


def routes(bp) -> None:
    board_actions.routes(bp)
    slots = threading.BoundedSemaphore(max_streams())  # per app, i.e. per web process

    @bp.route("/board")
    @signed_in()
    def board():
        return render_template("board.html", snap=snapshot(g.user.org_id),
                               calls_known=data.table("calls") is not None)

    @bp.route("/board/stream")
    @signed_in(to_login=False)  # 401, not the sign-in page: the EventSource closes, and board.js reloads the page
    def board_stream():
        org_id = g.user.org_id
        once = request.args.get("once") == "1"
        held = not once and slots.acquire(blocking=False)
        retry = 2000 if once or held else POLL_BUSY_MS

        def events():
            yield f"retry: {retry}\n\n"
            last, started = None, time.monotonic()
            while True:
                body = json.dumps(snapshot(org_id), ensure_ascii=False)
                if body != last:
                    yield f"event: board\ndata: {body}\n\n"
                    last = body
                else:
                    yield ": keep-alive\n\n"
                if not held or time.monotonic() - started > STREAM_FOR:
                    return
                time.sleep(POLL)

        response = Response(stream_with_context(events()), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        if held:
            response.call_on_close(slots.release)  # the stream ended, or its browser went away
        return response
