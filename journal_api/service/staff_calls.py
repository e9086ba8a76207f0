"""Staff calls in the journal (issue 8 §1): which request a technician's call (or a dispatcher's call to him) is
about, and its line in that request's history.

A mixin of CallService (same unit of work, same ``_link``): the telephony worker reaches it through the IVR ops
``staff_request`` and ``attach_request`` and, once the call's recordings are stored, :meth:`log_staff_call`.
Every write is idempotent (a worker may replay it from its spool)."""
from __future__ import annotations

import sqlalchemy as sa

from ivr_flows.prompts import journal_text

from ..domain.events import Actor
from ..domain.status import OPEN_STATUSES
from ..storage import tables as t
from ..storage import tables_calls as tc
from .requests import _load

SYSTEM = Actor.system("IVR")
CHANNEL = "phone"
HISTORY_KIND = "staff_call"  # what Request.staff_call_noted writes


class StaffCallOps:
    """Needs ``self.uow`` and ``self._link`` (CallService)."""

    def staff_caller(self, account: str | None):
        """The active staff member calling from this SIP account (Kamailio authenticated it): his organisation
        (``org_id``) and ``phone``; None when there is none (disabled or deleted since Kamailio loaded it)."""
        with self.uow() as uow:
            return _staff(uow, None, account, active_only=True)

    def staff_request(self, call_id: int, *, account: str | None) -> dict | None:
        """The open request assigned to the staff member with this SIP account, when he has exactly one: attached
        to the call. None when he has none or several (the IVR asks the number) or is unknown."""
        from .calls import _call

        with self.uow() as uow:
            call = _call(uow, call_id, for_update=True)
            if call.request_id is not None:  # a replay: the request already chosen
                return _number(uow, call.request_id)
            staff = _staff(uow, call.org_id, account, active_only=True)
            if staff is None:
                return None
            staff_id = staff.id
            q = t.requests.c
            rows = uow.session.execute(sa.select(q.id).where(
                q.org_id == call.org_id, q.assignee_id == staff_id,
                q.status.in_(sorted(s.value for s in OPEN_STATUSES))).limit(2)).all()
            if len(rows) != 1:
                return None
            found = _number(uow, rows[0].id)
            self._link(uow, call_id, rows[0].id)
            uow.commit()
            return found

    def attach_request(self, call_id: int, *, number) -> dict | None:
        """Attach the call to the request of its organisation with this number; None when there is none."""
        from .calls import _call

        try:
            number = int(number)
        except (TypeError, ValueError):
            return None
        with self.uow() as uow:
            call = _call(uow, call_id, for_update=True)
            request_id = uow.session.scalar(sa.select(t.requests.c.id).where(
                t.requests.c.org_id == call.org_id, t.requests.c.number == number))
            if request_id is None:
                return None
            found = _number(uow, call.request_id or request_id)  # a replay keeps the request chosen first
            if call.request_id is None:
                self._link(uow, call_id, request_id)
                uow.commit()
            return found

    def log_staff_call(self, call_id: int, *, account: str | None, talk_s: float | None = None) -> bool:
        """The call's line in its request's history, written once: who called (the author), whom, how it went
        (a conversation of ``talk_s`` seconds, a voice message, no answer), and the recording to play.
        False when the call is about no request."""
        with self.uow() as uow:
            call = uow.session.execute(sa.select(tc.calls).where(tc.calls.c.id == call_id)).one()
            if call.request_id is None:
                return False
            recs = {r.kind: r for r in uow.session.execute(
                sa.select(tc.recordings.c.id, tc.recordings.c.kind, tc.recordings.c.duration_s)
                .where(tc.recordings.c.call_id == call_id).order_by(tc.recordings.c.id)).all()}
            caller = _staff(uow, call.org_id, account)
            callee = journal_text("staff_callee_dispatch")
            to = call.to_number or ""
            if to.startswith("to-"):
                other = _staff(uow, call.org_id, to[3:])
                callee = other.full_name if other is not None else to[3:]
            path = list(call.ivr_path or [])
            if "transferred" in path:
                key, seconds, rec = "staff_call_talked", talk_s, recs.get("call")
            elif "voicemail" in recs:
                key, rec = "staff_call_voicemail", recs["voicemail"]
                seconds = rec.duration_s
            elif "technician_no_answer" in path or "voicemail_record" in path:
                key, seconds, rec = "staff_call_no_answer", None, recs.get("call")
            else:
                key, seconds, rec = "staff_call_abandoned", None, recs.get("call")
            note = journal_text(key).format(
                caller=caller.full_name if caller is not None else (account or call.from_number or ""),
                callee=callee, seconds=round(seconds or 0), recording=rec.id if rec is not None else "—")
            number = uow.session.scalar(sa.select(t.requests.c.number).where(t.requests.c.id == call.request_id))
            e = t.request_events.c
            if uow.session.scalar(sa.select(e.id).where(e.request_id == call.request_id, e.kind == HISTORY_KIND,
                                                        e.note == note)) is not None:
                return True  # written before (a replay)
            actor = SYSTEM if caller is None else Actor(kind="staff", role=caller.role, id=caller.id,
                                                        name=caller.full_name)
            request = _load(uow, call.org_id, number, SYSTEM, for_update=True)
            request.staff_call_noted(note, actor, CHANNEL, uow.clock())
            uow.track(request)
            uow.commit()
        return True


def _staff(uow, org_id: int | None, account: str | None, *, active_only: bool = False):
    """The staff member with this SIP account (in ``org_id``, or in the installation: accounts are unique there),
    an active one first."""
    if not account:
        return None
    s = t.staff.c
    stmt = sa.select(s.id, s.org_id, s.full_name, s.role, s.phone).where(s.sip_account == account)
    if org_id is not None:
        stmt = stmt.where(s.org_id == org_id)
    if active_only:
        stmt = stmt.where(s.active.is_(True))
    return uow.session.execute(stmt.order_by(s.active.desc(), s.id)).first()


def _number(uow, request_id: int) -> dict:
    number = uow.session.scalar(sa.select(t.requests.c.number).where(t.requests.c.id == request_id))
    return {"request_id": request_id, "request_number": number}
