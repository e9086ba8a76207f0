"""One call's executor: it carries out the interpreter's actions on a pjsua2 call and feeds the events back.

Everything here runs on the worker's loop thread. Waiting is done with deadlines checked by :meth:`Session.tick`
(no sleeping, no blocking I/O): a Play ends when its prompts' length has passed, a Gather on its timeouts, a Record
on ``#``, its maximum length, or silence measured on the growing WAV file (a cheap RMS over the newly written
bytes), an Invoke when the journal thread answers, a Transfer when the second call is confirmed or times out.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from ivr_flows import actions as A
from ivr_flows import events as E
from recordings import spool

from . import media
from .staff_calls import STAFF_OPS

log = logging.getLogger(__name__)
REQUEST_VARS = ("work_type", "emergency", "apartment", "building_id")
MEDIA_WAIT_S = 5.0  # a call whose media never comes up is hung up
BURY_S = 1.0  # players and recorders are destroyed this long after they were disconnected
OPEN_WAIT_S = 3.0  # the flow starts without a journal call id if the database is this slow


class Session:
    def __init__(self, worker, call, info: dict):
        self.worker, self.call, self.info = worker, call, info
        self.key = info["call_uuid"]
        self.flow_state = None
        self.flow = worker.flow_for(info)  # the resident flow, or the staff flow for "dispatch"
        self.pending: list = []
        self.current = None  # (action, data dict)
        self.digits: list[str] = []  # every digit received, for the journal
        self.buffer = ""  # digits waiting for a Gather
        self.hung_up = False
        self.ended = False
        self.bridged = None  # the transfer's second call once answered
        self.started = False
        self.opened = False
        self.media_up = False
        self.created = time.monotonic()
        self.players: list = []
        self.call_rec = None
        self.seg = None  # the Record in progress: media.Segment
        self.prefetched = None  # [Invoke, its result or None]: submitted while the Play before it runs
        self.status, self.cause = "answered", ""
        dirs = worker.dirs
        self.manifest_path = dirs["calls"] / f"{self.key}.json"
        self.manifest = {**info, "worker_pid": worker.pid, "state": "active", "org_id": None, "call_id": None,
                         "recordings": [{"kind": "call", "path": str(dirs["calls"] / f"{self.key}.wav")}]}
        self.save()

    # -- bookkeeping -----------------------------------------------------------------------------------------
    def save(self) -> None:
        spool.write_json(self.manifest_path, self.manifest)

    def feed(self, event) -> None:
        actions, self.flow_state = self.worker.step(self.flow_state, event, self.flow)
        log.info("call %s: %s -> %s", self.key[:8], event, actions)
        flow_vars = getattr(self.flow_state, "vars", None) or {}
        kept = {k: flow_vars.get(k) for k in REQUEST_VARS if flow_vars.get(k) is not None}
        if kept != self.manifest.get("request_vars", {}):  # a dead worker's call can still be registered
            self.manifest["request_vars"] = kept
            self.save()
        self.pending.extend(actions)
        self.advance()

    def advance(self) -> None:
        while self.current is None and self.pending:
            action = self.pending.pop(0)
            try:
                self.begin(action)
            except Exception:  # a broken prompt file must not leave the caller in silence
                log.exception("call %s: %r failed", self.key, action)
                self.current = None
                if not self.hung_up:
                    self.pending = [A.Hangup("worker_error")]
        if self.current is None and not self.pending and self.hung_up and not self.ended:
            self.finish()

    def answer_waiting(self, event) -> None:
        self.current = None
        self.feed(event)

    # -- events from pjsua (via the worker) ------------------------------------------------------------------
    def on_media(self) -> None:
        if self.media_up or self.hung_up:
            return
        audio = media.call_audio(self.call)
        if audio is None:
            return
        self.media_up = True
        self.audio = audio
        self.call_rec = media.Recorder(self.manifest["recordings"][0]["path"])
        audio.startTransmit(self.call_rec.port)
        self.maybe_start()

    def on_opened(self, payload: dict) -> None:
        self.opened = True
        if payload.get("ok"):
            self.manifest.update(org_id=payload["org_id"], call_id=payload["call_id"])
            self.save()
        self.maybe_start()

    def maybe_start(self) -> None:
        late = time.monotonic() - self.created > OPEN_WAIT_S
        if self.started or not self.media_up or not (self.opened or late):
            return
        self.started = True
        self.feed(E.Started(caller=self.info["caller"], did=self.info["to_number"],
                            call_id=self.manifest["call_id"]))

    def on_digit(self, digit: str) -> None:
        self.digits.append(digit)
        action, data = self.current or (None, None)
        if not self.started:  # a caller who keys before the greeting started (a slow journal): kept
            self.buffer += digit
        elif isinstance(action, A.Play):
            if action.barge_in:  # the caller knows what to press: skip the prompts up to the Gather
                self.buffer += digit
                self.stop_players()
                self.current = None
                while self.pending and isinstance(self.pending[0], A.Play) and self.pending[0].barge_in:
                    self.pending.pop(0)
                self.advance()
        elif isinstance(action, A.Gather):
            self.buffer += digit
            data["deadline"] = time.monotonic() + action.inter_digit_s
            self.check_gather(action)
        elif isinstance(action, A.Record) and action.terminator and digit == action.terminator:
            self.end_record("terminator")

    def on_disconnected(self, code: int, reason: str) -> None:
        if self.hung_up:
            return
        self.hung_up = True
        self.flow_done = bool(getattr(self.flow_state, "done", False))
        self.cause = self.cause or ("caller" if code in (0, 200) else f"{code} {reason}".strip())
        self.stop_players()
        if self.seg is not None:
            self.end_record("hangup", notify=False)
        if self.bridged is not None:
            self.worker.hangup(self.bridged)
        elif self.current and isinstance(self.current[0], A.Transfer):  # the other phone must stop ringing
            self.worker.hangup(self.current[1]["call"])
        if self.call_rec is not None:
            self.call_rec.close(self.worker.bury)
        action = self.current[0] if self.current else None
        self.current = None
        if isinstance(action, A.Invoke):  # its result is still to come: keep it, then clean up
            self.current = (action, {"orphan": True})
        self.pending = []
        self.feed(E.HungUp())

    def on_invoke_result(self, payload: dict) -> None:
        action, data = self.current or (None, None)
        if self.prefetched is not None:
            if action is not self.prefetched[0]:  # answered before its Play ended: kept until then
                self.prefetched[1] = payload
                return
            self.prefetched = None
        if not isinstance(action, A.Invoke):
            return
        ok, result = bool(payload.get("ok")), dict(payload.get("data") or {})
        if action.op == "register_request" and ok:
            self.manifest.update(request_id=result.get("request_id"), request_number=result.get("number"))
            self.save()
        elif action.op in STAFF_OPS and ok:  # the request a staff call is about: its recordings go there too
            self.manifest.update(request_id=result.get("request_id"), request_number=result.get("request_number"))
            self.save()
        if data.get("orphan"):  # the caller left while we waited: the clean-up still runs
            self.current = None
            self.feed(E.HungUp())
            return
        self.answer_waiting(E.InvokeResult(action.op, ok, result))

    def on_transfer_state(self, answered: bool) -> None:
        action, data = self.current or (None, None)
        if not isinstance(action, A.Transfer):
            return
        other = data["call"]
        if answered:
            self.bridged = other
            self.bridge()
        else:
            self.worker.hangup(other)
        self.answer_waiting(E.TransferResult(answered))

    def bridge(self) -> None:
        """Connect the caller and the transfer target both ways (and into the call recording) once the target's
        media is up; called on the answer and again when its media arrives."""
        other_audio = media.call_audio(self.bridged) if self.bridged is not None else None
        if other_audio is None or getattr(self, "_bridged_audio", None) is not None or self.hung_up:
            return
        self._bridged_audio = other_audio
        self.manifest["bridged_at"] = datetime.now(timezone.utc).isoformat()  # the conversation's start
        self.save()
        self.stop_players()
        self.audio.startTransmit(other_audio)
        other_audio.startTransmit(self.audio)
        other_audio.startTransmit(self.call_rec.port)

    # -- actions ---------------------------------------------------------------------------------------------
    def begin(self, action) -> None:
        if self.hung_up and not isinstance(action, A.Invoke):
            return  # after the caller left only the journal's clean-up runs
        now = time.monotonic()
        if isinstance(action, A.Play):
            if action.barge_in and self.buffer:
                return  # keys already pressed: the caller is past this prompt
            self.current = (action, {"until": now + self.play(action.prompts)})
            if self.pending and isinstance(self.pending[0], A.Invoke) and not action.barge_in:
                self.submit_invoke(self.pending[0])  # "please wait" plays while the journal works
        elif isinstance(action, A.Gather):
            self.current = (action, {"deadline": now + action.timeout_s})
            self.check_gather(action)
        elif isinstance(action, A.Record):
            until = now + (self.play(("beep",)) if action.beep else 0.0)
            self.current = (action, {"beep_until": until})
        elif isinstance(action, A.Invoke):
            self.current = (action, {})
            if self.prefetched and self.prefetched[0] is action:
                if self.prefetched[1] is not None:
                    payload, self.prefetched = self.prefetched[1], None
                    self.on_invoke_result(payload)
            else:
                self.submit_invoke(action)
        elif isinstance(action, A.Transfer):
            target = self.worker.resolve_target(action.target, {**self.info, "org_id": self.manifest["org_id"]})
            other = self.worker.dial(self, target)
            if other is None:
                self.current = None
                self.pending.insert(0, _Answer(E.TransferResult(False)))
            else:
                self.current = (action, {"call": other, "deadline": now + action.timeout_s})
        elif isinstance(action, A.Hangup):
            self.pending = []
            if self.bridged is None:  # after a transfer the IVR is done, the conversation is not
                self.cause = action.cause
                self.worker.hangup(self.call)
        elif isinstance(action, _Answer):
            self.feed(action.event)

    def submit_invoke(self, action) -> None:
        self.prefetched = [action, None]
        self.worker.journal.submit(self.key, "invoke", self.worker.journal.invoke, dict(self.manifest),
                                   action.op, dict(action.args))

    def play(self, prompts) -> float:
        paths = [str(self.worker.prompt_path(p)) for p in prompts]
        if not paths:
            return 0.0
        player = media.player(paths)
        player.startTransmit(self.audio)
        player.startTransmit(self.call_rec.port)
        self.players.append(player)
        return sum(media.wav_length(p) for p in paths)

    def stop_players(self) -> None:
        """Disconnect the players now, destroy them later (see Worker.bury)."""
        for player in self.players:
            for sink in (self.audio, self.call_rec.port if self.call_rec else None):
                if sink is None:
                    continue
                try:
                    player.stopTransmit(sink)
                except Exception:
                    pass
        if self.players:
            self.worker.bury(self.players)
        self.players = []

    def check_gather(self, action) -> None:
        buf = self.buffer
        if action.terminator and action.terminator in buf:
            self.buffer = ""
            self.answer_waiting(E.Digits(buf.split(action.terminator, 1)[0]))
        elif len(buf) >= action.max_digits:
            self.buffer = buf[action.max_digits:]
            self.answer_waiting(E.Digits(buf[:action.max_digits]))

    def start_record(self, action) -> None:
        path = self.worker.dirs["live"] / f"{self.key}-{action.name}.wav"
        self.seg = media.Segment(path, action)
        self.audio.startTransmit(self.seg.recorder.port)
        self.manifest["recordings"].append({"kind": action.name, "path": str(path)})
        self.save()
        entry = {"call_uuid": self.key, "call_id": self.manifest["call_id"], "org_id": self.manifest["org_id"],
                 "name": action.name, "path": str(path), "sample_rate": 8000,
                 "started_at": datetime.now(timezone.utc).isoformat()}
        self.worker.journal.submit(self.key, "live", self.worker.journal.announce_live, entry)

    def end_record(self, reason: str, notify: bool = True) -> None:
        seg, self.seg = self.seg, None
        try:
            self.audio.stopTransmit(seg.recorder.port)
        except Exception:
            pass
        duration = seg.close(reason, self.worker.bury)
        if notify:
            self.answer_waiting(E.Recorded(seg.action.name, round(duration, 2), reason))

    def tick(self, now: float) -> None:
        if not self.media_up:
            if not self.hung_up and now - self.created > MEDIA_WAIT_S:
                self.cause = "no_media"
                self.worker.hangup(self.call)
            return
        self.maybe_start()
        if self.current is None:
            return
        action, data = self.current
        if isinstance(action, A.Play) and now >= data["until"]:
            self.stop_players()
            self.current = None
            if not self.pending and not self.hung_up:
                self.feed(E.PlayDone())
            self.advance()
        elif isinstance(action, A.Gather) and now >= data["deadline"]:
            buf, self.buffer = self.buffer, ""
            self.answer_waiting(E.Digits(buf) if buf else E.Timeout())
        elif isinstance(action, A.Record):
            if self.seg is None and now >= data["beep_until"]:
                self.stop_players()
                self.start_record(action)
            elif self.seg is not None:
                reason = self.seg.check(now)
                if reason:
                    self.end_record(reason)
        elif isinstance(action, A.Transfer) and now >= data["deadline"]:
            self.worker.hangup(data["call"])
            self.answer_waiting(E.TransferResult(False))

    # -- the end ---------------------------------------------------------------------------------------------
    def finish(self) -> None:
        self.ended = True
        path = list(getattr(self.flow_state, "path", ()) or ())
        if not getattr(self, "flow_done", True) and not self.manifest.get("request_id"):
            self.status = "abandoned"  # the caller left before the IVR was through and no request came of it
        self.manifest.update(state="ended", ended_at=datetime.now(timezone.utc).isoformat(),
                             status=self.status, hangup_cause=self.cause or "", ivr_path=path,
                             digits=list(self.digits))
        self.save()
        path = Path(self.manifest_path)  # stored once the recorders buried at the hang-up are destroyed
        self.worker.bury([], delay=2 * BURY_S,
                         then=lambda: self.worker.journal.submit(self.key, "stored", self.worker.journal.store, path))
        self.worker.release(self)


class _Answer:
    """An event to feed once the actions before it are done (a failed transfer answers at once)."""

    def __init__(self, event):
        self.event = event


def new_call_uuid() -> str:
    return uuid.uuid4().hex
