"""Staff softphones at Kamailio: a pjsua2 account that registers with a staff member's digest credentials.

``python -m telephony.staff_calls register sip:HOST:PORT USER PASSWORD`` registers once and prints one JSON line
``{"code": 200, "reason": "OK"}`` (or the final failure, e.g. 401/403), then unregisters. The engineer uses it to
check a softphone's credentials (``hotline sip-password STAFF_ID``); the tests use it as the staff softphone.

Disabled staff (decided here, see docs/telephony.md): the credentials table is regenerated from the staff records
by the supervisor every few seconds (:func:`telephony.kamailio.refresh_dbtext`); an account that disappears from
it is also removed from Kamailio's location table (``kamcmd ul.rm``), so a disabled member can neither register
again nor be rung through an old registration. Checking the database at request time from Kamailio would need a
second database driver in Kamailio; the table is small and a few seconds of delay is acceptable.
"""
from __future__ import annotations

import argparse
import json
import time

REGISTER_TIMEOUT_S = 8.0
STAFF_NUMBER = "dispatch"  # what a technician dials (Kamailio authenticates him first)
TO_STAFF = "to-"  # "to-<acct>": a dispatcher calls that technician (Kamailio rewrote the Request-URI)
STAFF_FLOW = "staff"  # ivr_flows/flows/staff.yaml
STAFF_OPS = ("staff_request", "attach_request")


def is_staff_number(number: str | None) -> bool:
    """A staff call: "dispatch", or "to-<acct>" (contracts: Kamailio authenticated the caller)."""
    return number == STAFF_NUMBER or (bool(number) and number.startswith(TO_STAFF) and len(number) > len(TO_STAFF))


def technician_account(info: dict) -> str | None:
    """Whose open requests a staff call is about: the callee of a "to-<acct>" call, else the caller."""
    to = info.get("to_number") or ""
    return to[len(TO_STAFF):] if to.startswith(TO_STAFF) else info.get("sip_user")


def register(registrar: str, username: str, password: str, *, port: int = 0, timeout: float = REGISTER_TIMEOUT_S,
             host: str = "127.0.0.1", stay: float = 0.0) -> dict:
    """Register ``username`` at ``registrar`` (``sip:host:port``); return the final code and reason. With
    ``stay``, a successful registration is kept that many seconds (printed at once) before it is removed."""
    import pjsua2 as pj

    result: dict = {}

    class Account(pj.Account):
        def onRegState(self, prm):
            if prm.code >= 200 and "code" not in result:
                result.update(code=int(prm.code), reason=str(prm.reason))

    ep = _endpoint(pj, host, port)
    domain = registrar.split(":", 1)[1]
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:{username}@{domain}"
    acc_cfg.regConfig.registrarUri = registrar
    acc_cfg.regConfig.retryIntervalSec = 0  # one attempt: the caller wants the answer, not a retry loop
    acc_cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", username, 0, password))
    acc = Account()
    acc.create(acc_cfg)
    end = time.monotonic() + timeout
    while "code" not in result and time.monotonic() < end:
        ep.libHandleEvents(20)
    if not result:
        result.update(code=408, reason="no answer")
    try:
        if result["code"] == 200:
            if stay:
                print(json.dumps(result), flush=True)
                end = time.monotonic() + stay
                while time.monotonic() < end:
                    ep.libHandleEvents(50)
            acc.setRegistration(False)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                ep.libHandleEvents(20)
    finally:
        acc.shutdown()
        del acc
        ep.libDestroy()
    return result


def call(target: str, username: str, password: str, *, hold: float = 3.0, timeout: float = 15.0,
         host: str = "127.0.0.1", play: str | None = None, play_at: float = 0.0, record: str | None = None,
         dtmf: list[tuple[float, str]] = ()) -> dict:
    """Call ``target`` (e.g. ``sip:dispatch@host:port``) as ``username`` with his digest credentials (answering a
    challenge), stay ``hold`` seconds once answered, hang up; return the final code and whether it was answered.
    ``dtmf``: ``(seconds after the answer, keys)`` pairs, sent as RFC 2833 events (e.g. ``(3, "123#")``)."""
    import pjsua2 as pj

    state: dict = {"answered": False, "code": None}

    ep = _endpoint(pj, host)
    domain = target.split("@", 1)[1]
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:{username}@{domain.split(':')[0]}"
    acc_cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", username, 0, password))
    acc = pj.Account()
    acc.create(acc_cfg)

    class Call(pj.Call):
        def onCallState(self, prm):
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not state["answered"]:
                state.update(answered=True, answered_at=time.monotonic())
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                state.update(code=int(info.lastStatusCode), ended=True)

    the_call = Call(acc)
    the_call.makeCall(target, pj.CallOpParam(True))
    end = time.monotonic() + timeout + hold
    player = recorder = None
    keys = sorted(dtmf)
    sent: list[str] = []
    while not state.get("ended") and time.monotonic() < end:
        ep.libHandleEvents(20)
        if keys and state["answered"] and time.monotonic() - state["answered_at"] >= keys[0][0]:
            digits = keys.pop(0)[1]
            try:
                the_call.dialDtmf(digits)  # RFC 2833 (pjsua's default DTMF method)
                sent.append(digits)
            except pj.Error as exc:
                state["dtmf_error"] = exc.info()
        if record and recorder is None and state["answered"]:
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(record)
            the_call.getAudioMedia(-1).startTransmit(recorder)
        if play and player is None and state["answered"] and time.monotonic() - state["answered_at"] >= play_at:
            player = pj.AudioMediaPlayer()
            player.createPlayer(play, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(the_call.getAudioMedia(-1))
        if state["answered"] and time.monotonic() - state["answered_at"] >= hold:
            try:
                the_call.hangup(pj.CallOpParam(True))
            except pj.Error:
                pass
            state["answered_at"], state["hung_up_here"] = float("inf"), True
    if not state.get("ended"):
        ep.hangupAllCalls()
        for _ in range(50):
            ep.libHandleEvents(20)
    result = {"answered": state["answered"], "code": state["code"], "hung_up_here": bool(state.get("hung_up_here"))}
    if dtmf:
        result["dtmf_sent"] = sent
    del player, recorder, the_call
    acc.shutdown()
    del acc
    ep.libDestroy()
    return result


def answer(registrar: str, username: str, password: str, *, play: str | None = None, record: str | None = None,
           timeout: float = 30.0, host: str = "127.0.0.1", ring: float = 0.0,
           hangup_after: float | None = None) -> dict:
    """A dispatcher's softphone: register, print ``{"registered": 200}``, answer the first call after ringing
    ``ring`` seconds, speak ``play`` into it and record what it hears, until either side hangs up (she does
    ``hangup_after`` seconds after answering) or ``timeout``."""
    import pjsua2 as pj

    state: dict = {}
    calls: list = []

    class Call(pj.Call):
        def onCallState(self, prm):
            if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
                state["ended"] = True

        def onCallMediaState(self, prm):
            if "media" in state:
                return
            audio = self.getAudioMedia(-1)
            state["media"] = True
            if record:
                state["rec"] = pj.AudioMediaRecorder()
                state["rec"].createRecorder(record)
                audio.startTransmit(state["rec"])
            if play:
                state["player"] = pj.AudioMediaPlayer()
                state["player"].createPlayer(play, pj.PJMEDIA_FILE_NO_LOOP)
                state["player"].startTransmit(audio)

    class Account(pj.Account):
        def onRegState(self, prm):
            if prm.code >= 200 and "reg" not in state:
                state["reg"] = int(prm.code)
                print(json.dumps({"registered": state["reg"]}), flush=True)

        def onIncomingCall(self, prm):
            incoming = Call(self, prm.callId)
            calls.append(incoming)
            ringing = pj.CallOpParam(True)
            ringing.statusCode = 180
            incoming.answer(ringing)
            state["rang_at"] = time.monotonic()

    ep = _endpoint(pj, host)
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:{username}@{registrar.split(':', 1)[1]}"
    acc_cfg.regConfig.registrarUri = registrar
    acc_cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", username, 0, password))
    acc = Account()
    acc.create(acc_cfg)
    end = time.monotonic() + timeout
    while not state.get("ended") and time.monotonic() < end:
        ep.libHandleEvents(20)
        now = time.monotonic()
        if calls and "answered" not in state and now >= state["rang_at"] + ring:
            reply = pj.CallOpParam(True)
            reply.statusCode = 200
            calls[0].answer(reply)
            state["answered"] = now
        if hangup_after is not None and state.get("answered") and now >= state["answered"] + hangup_after:
            calls[0].hangup(pj.CallOpParam(True))
            hangup_after = None
    result = {"registered": state.get("reg"), "rang": "rang_at" in state, "answered": "answered" in state,
              "ended": bool(state.get("ended"))}
    state.clear()
    ep.hangupAllCalls()
    for _ in range(20):
        ep.libHandleEvents(20)
    calls.clear()
    acc.shutdown()
    del acc
    ep.libDestroy()
    return result


def _endpoint(pj, host: str, port: int = 0):
    """A main-thread pjsua2 endpoint with no sound device, PCMU only, on ``host:port`` (0: any free port)."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.noVad = True  # RTP keeps flowing in silence: the far end's jitter buffer does not fill gaps
    cfg.medConfig.ecTailLen = 0  # no sound device, nothing to cancel
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port, tcfg.boundAddress = port, host
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():  # PCMU, as the workers
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith("PCMU") else 0)
    return ep


def open_staff_call(journal, info: dict) -> dict:
    """The journal side of a "dispatch" call (runs on the worker's journal thread): the authenticated SIP account
    (the From user, checked by Kamailio) -> the active staff member; the call is logged in his organisation under
    his phone number, so a voice message gets a callback task like any call. An unknown account (deleted since
    Kamailio loaded it) is logged as dialled, under the account name."""
    from .journal import _dt, utcnow

    account = info["from_number"]
    row = journal.calls.staff_caller(account)
    if row is None:
        return journal.open_call(info)
    call_id = journal.calls.open_call(org_id=row.org_id, sip_call_id=info["sip_call_id"], call_uuid=info["call_uuid"],
                                      from_number=row.phone or account, to_number=info["to_number"],
                                      arrived_at=info["arrived_at"], worker=journal.worker)
    journal.calls.answered(call_id, _dt(info.get("answered_at")) or utcnow())
    return {"ok": True, "org_id": row.org_id, "call_id": call_id}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="telephony.staff_calls")
    sub = parser.add_subparsers(dest="cmd", required=True)
    reg = sub.add_parser("register", help="register a staff softphone once and print the answer as JSON")
    reg.add_argument("registrar")
    reg.add_argument("username")
    reg.add_argument("password")
    reg.add_argument("--timeout", type=float, default=REGISTER_TIMEOUT_S)
    reg.add_argument("--stay", type=float, default=0.0, help="keep the registration this many seconds")
    dial = sub.add_parser("call", help="call sip:dispatch@HOST:PORT as a staff member; print the outcome as JSON")
    dial.add_argument("target")
    dial.add_argument("username")
    dial.add_argument("password")
    dial.add_argument("--hold", type=float, default=3.0, help="seconds to stay once answered")
    dial.add_argument("--play", help="a WAV file to speak into the call")
    dial.add_argument("--play-at", type=float, default=0.0, help="seconds after the answer")
    dial.add_argument("--record", help="write what the staff member hears here")
    dial.add_argument("--dtmf", action="append", default=[], help="keys to send (RFC 2833), e.g. 123#; repeatable")
    dial.add_argument("--dtmf-at", action="append", type=float, default=[],
                      help="seconds after the answer for the --dtmf of the same position (default: 2)")
    desk = sub.add_parser("answer", help="a dispatcher's softphone: register, answer one call, print JSON")
    desk.add_argument("registrar")
    desk.add_argument("username")
    desk.add_argument("password")
    desk.add_argument("--play")
    desk.add_argument("--record")
    desk.add_argument("--timeout", type=float, default=30.0)
    desk.add_argument("--ring", type=float, default=0.0, help="seconds of ringing before she answers")
    desk.add_argument("--hangup-after", type=float, help="she hangs up this many seconds after answering")
    args = parser.parse_args(argv)
    if args.cmd == "answer":
        result = answer(args.registrar, args.username, args.password, play=args.play, record=args.record,
                        timeout=args.timeout, ring=args.ring, hangup_after=args.hangup_after)
        print(json.dumps(result), flush=True)
        return 0 if result["answered"] else 1
    if args.cmd == "call":
        if len(args.dtmf_at) > len(args.dtmf):
            parser.error("every --dtmf-at needs its --dtmf")
        at = args.dtmf_at + [2.0] * (len(args.dtmf) - len(args.dtmf_at))
        bad = [keys for keys in args.dtmf if not keys or any(ch not in "0123456789*#ABCD" for ch in keys)]
        if bad:
            parser.error(f"--dtmf takes the keys 0-9, *, #, A-D, not {bad[0]!r}")
        result = call(args.target, args.username, args.password, hold=args.hold, play=args.play,
                      play_at=args.play_at, record=args.record, dtmf=list(zip(at, args.dtmf)))
        print(json.dumps(result), flush=True)
        return 0 if result["answered"] else 1
    result = register(args.registrar, args.username, args.password, timeout=args.timeout, stay=args.stay)
    if not (args.stay and result["code"] == 200):
        print(json.dumps(result), flush=True)
    return 0 if result["code"] == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
