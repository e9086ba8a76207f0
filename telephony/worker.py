"""A telephony worker: one process, one pjsua2 Endpoint, at most ``max_calls`` calls, one loop.

The loop: ``libHandleEvents`` (pjsua's callbacks run inside it and only queue events), then the queued events,
then the journal thread's answers, then every call's deadlines. Run by the supervisor (``hotline sip``) as
``python -m telephony.worker --index I --port P --rtp-port R``.
"""
from __future__ import annotations

import argparse
import faulthandler
import gc
import logging
import os
import re
import signal
import socket
import time
from datetime import datetime, timezone
from functools import partial

import pjsua2 as pj

from journal_api.config import load_section, load_settings
from recordings import spool

from . import endpoint as ep_mod
from . import media
from .journal import Journal, caller_phone, dialled_number
from .session import Session, new_call_uuid
from .settings import SipSettings
from .staff_calls import STAFF_FLOW, TO_STAFF, is_staff_number, open_staff_call

log = logging.getLogger("telephony.worker")
REPLAY_EVERY_S = 10.0
PURGE_EVERY_S = 3600.0


class Worker:
    def __init__(self, settings, sip: SipSettings, *, index: int, host: str, port: int, rtp_port: int,
                 log_rejected: bool = True, flow=None, prompt_path=None, container=None):
        self.settings, self.sip, self.index = settings, sip, index
        self.host, self.port, self.rtp_port = host, port, rtp_port
        self.log_rejected = log_rejected
        self.pid = os.getpid()
        self.name = f"{socket.gethostname()}/w{index}:{port}"
        self.dirs = spool.spool_dirs(settings.data_dir)
        self.journal = Journal(settings, settings.data_dir, worker=self.name, container=container)
        self.journal._live_queue = sip.live_queue
        self.events = ep_mod.Events()
        self.sessions: dict[str, Session] = {}
        self.calls: dict[str, pj.Call] = {}  # every pjsua2 Call we hold, by key: dropping one ends it with 603
        self.legs: dict[str, Session] = {}  # transfer legs -> the session that dialled them
        self.other: dict[str, pj.Call] = {}  # calls refused while draining, kept until they end
        self.draining = False
        self.stop_at = None
        self._flow, self._prompt_path = flow, prompt_path
        self._replaying = False
        self.graveyard: list[tuple[float, list, object]] = []
        self.rx_watch = media.RxWatch(sip.media_timeout_s)  # calls that lost their far end without a BYE

    # -- IVR -------------------------------------------------------------------------------------------------
    def load_ivr(self) -> None:
        from ivr_flows import load_flow, step
        from ivr_flows.prompts import catalogue_for
        from ivr_flows.settings import load_ivr_settings

        self._step = step
        ivr = load_ivr_settings()
        if self._flow is None:
            self._flow = load_flow(ivr.flow, params=ivr.flow_params())
        # Staff calls ("dispatch", "to-<acct>"; authenticated by Kamailio) get the staff flow (staff_calls.py).
        self._staff_flow = load_flow(STAFF_FLOW, params=ivr.flow_params())
        if self._prompt_path is None:
            self._prompt_path = catalogue_for(self.settings).path

    def step(self, state, event, flow=None):
        return self._step(flow or self._flow, state, event)

    def flow_for(self, details: dict):
        return self._staff_flow if details.get("staff") else self._flow

    def prompt_path(self, prompt_id: str):
        return self._prompt_path(prompt_id)

    def resolve_target(self, target: str, info: dict | None = None) -> str:
        to = (info or {}).get("to_number") or ""
        if target == "technician":  # a dispatcher's "to-<acct>" call: that technician, through Kamailio
            if not to.startswith(TO_STAFF):
                return ""
            return f"sip:{to[len(TO_STAFF):]}@{self.sip.host}:{self.settings.sip_port}"
        if target == "dispatchers":
            if not self.sip.dispatcher_uri and self.sip.kamailio_in_front:  # the caller's organisation's dispatchers on
                org_id = (info or {}).get("org_id")  # duty at Kamailio (all of them if the journal never told us)
                user = f"dispatchers-{int(org_id)}" if org_id else "dispatchers"
                return f"sip:{user}@{self.sip.host}:{self.settings.sip_port}"
            return self.sip.dispatcher_uri
        return target

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self) -> int:
        self.load_ivr()
        self.ep, self.acc = ep_mod.create_endpoint(
            self.events, host=self.host, port=self.port, rtp_port=self.rtp_port, rtp_range=40,
            max_calls=self.sip.max_calls, log_level=self.sip.log_level, user_agent=f"hotline-{self.index}")
        signal.signal(signal.SIGTERM, lambda *_: self.drain())
        signal.signal(signal.SIGINT, lambda *_: self.drain())
        self.journal.submit(None, "warm", self.journal.warm)
        self.journal.submit(None, "replay", self.journal.replay)
        self._replaying = True
        next_replay, next_purge = time.monotonic() + REPLAY_EVERY_S, time.monotonic() + 60
        ready = self.dirs["root"] / f"worker-{self.index}.ready"
        ready.write_text(f"{self.pid} {self.host}:{self.port}\n")
        log.info("worker %s listening on %s:%d (RTP %d+)", self.index, self.host, self.port, self.rtp_port)
        try:
            while True:
                # SIP traffic wakes the poll at once; the timeout only paces our own deadlines. Idle workers wake
                # 10 times a second (16 idle workers at 10 ms took most of a core).
                self.ep.libHandleEvents(20 if self.sessions or self.legs else 100)
                self.handle_events()
                self.handle_results()
                now = time.monotonic()
                self.tick(now)
                if self.rx_watch.due(now):
                    try:
                        self.watch_media(now)
                    except Exception:  # the watchdog must never take the calls in progress down with it
                        log.exception("worker %s: the media watchdog failed", self.index)
                if now >= next_replay and not self._replaying:
                    self._replaying, next_replay = True, now + REPLAY_EVERY_S
                    self.journal.submit(None, "replay", self.journal.replay)
                if now >= next_purge:
                    next_purge = now + PURGE_EVERY_S
                    self.journal.submit(None, "purge", spool.purge, self.settings.data_dir,
                                        retention_days=self.sip.retention_days)
                if self.draining and self.done_draining(now):
                    break
        finally:
            ready.unlink(missing_ok=True)
            self.shutdown()
        return 0

    def tick(self, now: float) -> None:
        # A method of its own: a loop variable in run() would keep the last Session (and its pjsua2 Call) alive
        # past libDestroy, and the Call's destructor would then abort the process.
        for session in list(self.sessions.values()):
            session.tick(now)
        if self.graveyard and self.graveyard[0][0] <= now:
            due = [g for g in self.graveyard if g[0] <= now]
            self.graveyard = [g for g in self.graveyard if g[0] > now]
            for _, objects, then in due:
                objects.clear()  # the last references: pjsua destroys the players and recorders here
                if then is not None:
                    then()

    def bury(self, objects: list, delay: float = 1.0, then=None) -> None:
        """Destroy pjsua2 players/recorders ``delay`` seconds after they were disconnected, then run ``then``.
        Destroying a port the conference bridge's clock thread may still be reading crashed workers (SIGSEGV)
        under load; a disconnected port left alone a moment is safe."""
        self.graveyard.append((time.monotonic() + delay, list(objects), then))
        self.graveyard.sort(key=lambda g: g[0])

    def drain(self) -> None:
        if not self.draining:
            log.info("worker %s draining (%d calls)", self.index, len(self.sessions))
            self.draining = True
            self.stop_at = time.monotonic() + self.sip.drain_seconds

    def done_draining(self, now: float) -> bool:
        if not self.sessions and not self.legs and not self.graveyard:
            return True
        if now >= self.stop_at:
            self.ep.hangupAllCalls()
            self.stop_at = now + 5.0
        return False

    def shutdown(self) -> None:
        self.ep.hangupAllCalls()
        end = time.monotonic() + 2.0
        while time.monotonic() < end and (self.sessions or self.legs):
            self.ep.libHandleEvents(10)
            self.handle_events()
        for _, objects, then in self.graveyard:
            objects.clear()
            if then is not None:
                then()
        self.graveyard = []
        self.journal.close()  # waits for the recordings being stored
        self.sessions.clear()
        self.legs.clear()
        self.calls.clear()
        self.other.clear()
        self.acc.incoming.clear()
        gc.collect()  # every Call must be gone before libDestroy
        self.acc.shutdown()
        self.ep.libDestroy()

    # -- pjsua events ----------------------------------------------------------------------------------------
    def handle_events(self) -> None:
        for item in self.events.drain():
            kind = item[0]
            try:
                getattr(self, "on_" + kind)(*item[1:])
            except Exception:
                log.exception("worker %s: handling %s failed", self.index, item)

    def on_incoming(self, key: str) -> None:
        call = self.acc.incoming.pop(key)
        info = call.getInfo()  # before any answer: a refused call has none to give afterwards
        if self.draining:
            self.other[key] = call
            call.answer(ep_mod.call_param(503, "Shutting down", Retry_After=self.sip.busy_retry_after))
            if self.log_rejected:  # behind Kamailio the next worker takes it, or Kamailio logs it as busy
                self.journal.submit(None, "missed", self.journal.missed, {
                    "sip_call_id": info.callIdString, "to_number": dialled_number(info.localUri, self.sip.did),
                    "from_number": caller_phone(info.remoteUri) or (_user(info.remoteUri) or "anonymous")[:32],
                    "status": "missed", "hangup_cause": "shutting_down",
                    "at": datetime.now(timezone.utc).isoformat()})
            return
        caller_raw, phone = _user(info.remoteUri), caller_phone(info.remoteUri)
        # The flow gets a real phone number or None (anonymous, withheld or malformed: it asks the apartment);
        # the journal keeps what was received. A staff call is told by its Request-URI, which Kamailio rewrites
        # ("dispatch" for the short number, "to-<acct>" for a dispatcher calling a technician; the To header keeps
        # what was dialled).
        to_number = dialled_number(info.localUri, self.sip.did)
        request_user = getattr(call, "request_user", None)
        if is_staff_number(request_user):
            to_number = request_user
        details = {"call_uuid": key, "sip_call_id": info.callIdString, "caller": phone,
                   "from_number": phone or (caller_raw or "anonymous")[:32], "to_number": to_number,
                   "arrived_at": datetime.now(timezone.utc).isoformat()}
        if is_staff_number(to_number):
            details.update(staff=True, sip_user=caller_raw)
        self.calls[key] = call
        # Answered just below, in this turn of the loop; in the manifest for a replay (the ПП 416 report).
        details["answered_at"] = datetime.now(timezone.utc).isoformat()
        self.sessions[key] = Session(self, call, details)
        call.answer(ep_mod.call_param(200))
        opener = self.journal.open_call
        if details.get("staff"):
            opener = partial(open_staff_call, self.journal)  # Kamailio authenticated him: From = his account
        self.journal.submit(key, "open", opener,
                            {**details, "arrived_at": datetime.fromisoformat(details["arrived_at"])})

    def on_state(self, key: str, state: int, code: int, reason: str) -> None:
        if key in self.legs:
            self.on_leg_state(key, state, code)
            return
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.other.pop(key, None)
            session = self.sessions.get(key)
            if session is not None:
                session.on_disconnected(code, reason)

    def on_media(self, key: str) -> None:
        if key in self.legs:
            session = self.legs[key]
            if session.bridged is self.calls.get(key):
                session.bridge()  # media arrived after the answer
            return
        session = self.sessions.get(key)
        if session is not None:
            session.on_media()

    def on_dtmf(self, key: str, digit: str, method: int) -> None:
        session = self.sessions.get(key)
        if session is not None and not session.hung_up:
            session.on_digit(digit)

    def on_rejected(self, call_id, remote: str, local: str, status: int, reason: str) -> None:
        log.info("worker %s refused a call from %s: %s %s", self.index, remote, status, reason)
        if status == 486 and self.log_rejected:
            info = {"sip_call_id": call_id, "to_number": dialled_number(local, self.sip.did),
                    "from_number": caller_phone(remote) or (_user(remote) or "anonymous")[:32],
                    "status": "over_capacity", "at": datetime.now(timezone.utc).isoformat()}
            self.journal.submit(None, "missed", self.journal.missed, info)

    # -- transfer legs ---------------------------------------------------------------------------------------
    def dial(self, session: Session, uri: str):
        if not uri:
            return None
        key = new_call_uuid()
        call = ep_mod.Call(self.acc, self.events, key=key)
        try:
            call.makeCall(uri, ep_mod.call_param())
        except pj.Error as exc:
            log.warning("transfer to %s failed: %s", uri, exc.info())
            return None
        self.calls[key], self.legs[key] = call, session
        return call

    def on_leg_state(self, key: str, state: int, code: int) -> None:
        session, call = self.legs[key], self.calls.get(key)
        if state == pj.PJSIP_INV_STATE_CONFIRMED:
            session.on_transfer_state(True)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.legs.pop(key, None)
            self.calls.pop(key, None)
            if session.bridged is call:
                session.bridged = None
                if not session.hung_up:
                    self.hangup(session.call)
            else:
                session.on_transfer_state(False)

    # -- lost media ------------------------------------------------------------------------------------------
    def watch_media(self, now: float) -> None:
        """Every second: the answered calls and bridged legs whose RTP stopped ``media_timeout_s`` ago are lost."""
        watched = {key: s.call for key, s in self.sessions.items() if s.media_up and not s.hung_up}
        for key, session in self.legs.items():
            call = self.calls.get(key)
            if call is not None and session.bridged is call and not session.hung_up:
                watched[key] = call
        for key in self.rx_watch.check(watched, now):
            self.on_media_lost(key)

    def on_media_lost(self, key: str) -> None:
        """The far end of ``key`` vanished without a BYE: hang it up and end its session now (the other party of a
        bridge too: the conversation is over); the recordings are finished and stored as on any hang-up. The lost
        call and the caller's call move to ``other``, kept until pjsua ends them (a BYE to a dead phone waits for
        its timeout), no longer calls in progress."""
        session = self.legs.get(key) or self.sessions.get(key)
        if session is None or session.hung_up:
            return
        self.legs.pop(key, None)
        log.warning("worker %s: no RTP from %s for %.0f s: hanging up (%s)", self.index, key[:8],
                    self.sip.media_timeout_s, "bridged leg" if key != session.key else "call")
        lost = self.calls.pop(key)
        self.other[key] = lost
        self.hangup(lost)
        if session.bridged is lost:
            session.bridged = None
        if key != session.key:
            self.other[session.key] = self.calls.pop(session.key, session.call)
            self.hangup(session.call)
        session.cause = "media_timeout"
        session.on_disconnected(0, "")

    def hangup(self, call) -> None:
        try:
            call.hangup(ep_mod.call_param())
        except pj.Error:
            pass  # already gone

    def release(self, session: Session) -> None:
        self.sessions.pop(session.key, None)
        self.calls.pop(session.key, None)

    # -- journal answers -------------------------------------------------------------------------------------
    def handle_results(self) -> None:
        while not self.journal.results.empty():
            key, kind, payload = self.journal.results.get_nowait()
            if kind in ("replay", "purge", "warm", "missed"):
                self._replaying = False if kind == "replay" else self._replaying
                if kind == "missed" and not payload.get("ok"):  # spooled by Journal.missed, replayed later
                    log.warning("worker %s: a missed call was not logged yet: %s", self.index, payload)
                continue
            session = self.sessions.get(key)
            if session is None:
                continue
            if kind == "open":
                session.on_opened(payload)
            elif kind == "invoke":
                session.on_invoke_result(payload)


def _user(uri: str) -> str | None:
    match = re.search(r"sips?:([^@;>]+)@", uri or "")
    return match.group(1) if match else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="telephony.worker")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--no-log-rejected", action="store_true", help="Kamailio in front logs the busy calls")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a crash in pjsua leaves the Python stack in the log
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s sip-w{args.index} %(levelname)s %(message)s")
    settings = load_settings()
    sip = load_section(SipSettings, "sip")
    worker = Worker(settings, sip, index=args.index, host=args.host or sip.host, port=args.port,
                    rtp_port=args.rtp_port, log_rejected=not args.no_log_rejected)
    return worker.run()


if __name__ == "__main__":
    raise SystemExit(main())
