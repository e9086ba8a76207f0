"""The journal side of a Twilio Voice call: the interpreter's state kept by CallSid (table ``twilio_calls``, slot
0009), the flow driven through ``step()``, Invoke actions carried out through ``CallService.invoke`` and fed back
before rendering, and the recording fetched from Twilio with the account's credentials (docs/twilio_voice.md).

Concurrency: Twilio posts the webhooks of one call one after another, but the status and recording callbacks may
arrive while a gather is being answered. On PostgreSQL the call's row is locked (SELECT ... FOR UPDATE) from reading
the state to saving it, so two webhooks of one call never step the interpreter from the same state."""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Callable

import requests
import sqlalchemy as sa

from ivr_flows import State, load_flow, step
from ivr_flows import actions as A
from ivr_flows import events as E
from journal_api.storage.tables_incidents import twilio_calls as tw

log = logging.getLogger(__name__)
T = tw.c
SOURCE = "twilio"


@dataclass
class TwilioVoiceSettings:
    """``[twilio_voice]`` in the config file, ``HOTLINE_TWILIO_VOICE_*`` in the environment."""

    account_sid: str = ""
    auth_token: str = ""  # signs every webhook; empty: every webhook is refused (403)
    api_base_url: str = "https://api.twilio.com"  # where recordings are fetched (a local server in tests)
    dispatchers: str = ""  # what "dispatchers" dials: a SIP URI or a phone number; empty: straight to voicemail
    public_url: str = ""  # the base of prompt URLs Twilio fetches; empty: the URL Twilio called
    proxy_hops: int = 0  # reverse proxies in front (ProxyFix), so the signed URL is rebuilt right
    fetch_timeout_s: float = 30.0


def load_voice_settings(**overrides) -> TwilioVoiceSettings:
    from journal_api.config import load_section

    return load_section(TwilioVoiceSettings, "twilio_voice", **overrides)


# -- the interpreter's state as JSON ----------------------------------------------------------------------------------
def dump_state(state: State) -> dict:
    out = {}
    for f in fields(State):
        value = getattr(state, f.name)
        out[f.name] = _dump(value)
    return out


def load_state(data: dict) -> State:
    kw = {f.name: _load(data[f.name]) for f in fields(State) if f.name in data}
    for name in ("path", "digits", "cleanup"):
        kw[name] = tuple(kw.get(name) or ())
    for name in ("vars", "attempts"):
        kw[name] = MappingProxyType(dict(kw.get(name) or {}))
    return State(**kw)


def _dump(value):
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, (dict, MappingProxyType)):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    return value


def _load(value):
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        return {k: _load(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_load(v) for v in value]
    return value


def resolve(flow, actions: list, state: State, *, invoke: Callable[[A.Invoke], tuple[bool, dict]],
            dispatchers: str) -> tuple[list, State]:
    """Carry out the batch's trailing Invoke (``invoke(action) -> (ok, data)``) and feed the result back into
    ``step()`` until the flow waits for the caller or ends; ``Transfer("dispatchers")`` dials ``dispatchers`` (none
    configured: answered at once as not answered, so the caller leaves a message). Returns what Twilio is told."""
    out: list = []
    for _ in range(64):  # the interpreter's max_steps ends a flow that only ever invokes long before this
        last = actions[-1] if actions else None
        if isinstance(last, A.Invoke):
            out.extend(actions[:-1])
            ok, data = invoke(last)
            actions, state = step(flow, state, E.InvokeResult(last.op, ok, data))
            continue
        if isinstance(last, A.Transfer) and last.target == "dispatchers":
            if not dispatchers:
                out.extend(actions[:-1])
                actions, state = step(flow, state, E.TransferResult(False))
                continue
            actions = actions[:-1] + [replace(last, target=dispatchers)]
        out.extend(actions)
        return out, state
    raise RuntimeError("the flow kept invoking without waiting for the caller")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class VoiceCalls:
    """Twilio Voice calls on the journal's container (``container.calls`` is the CallService)."""

    def __init__(self, container, settings: TwilioVoiceSettings, flow=None):
        self.c = container
        self.s = settings
        if flow is None:
            from ivr_flows.settings import load_ivr_settings

            ivr = load_ivr_settings()
            flow = load_flow(ivr.flow, params=ivr.flow_params())
        self.flow = flow

    # -- the call's life -----------------------------------------------------------------------------------------
    def start(self, *, call_sid: str, caller: str | None, did: str | None) -> list | None:
        """A new call: open it in the journal and run the flow to its first wait. None: no organisation takes the
        number. A repeated webhook of a known call gets the same answer as the first time."""
        known = self._load(call_sid)
        if known is not None:
            return known[1].get("last") or [A.Hangup("normal")]
        calls = self.c.calls
        org_id = calls.resolve_org(did)
        if org_id is None:
            return None
        now = utcnow()
        call_id = calls.open_call(org_id=org_id, sip_call_id=call_sid, call_uuid=f"{SOURCE}-{call_sid}",
                                  from_number=caller, to_number=did, arrived_at=now, worker=SOURCE)
        calls.answered(call_id, now)
        caller = None if (caller or "").strip().lower() in ("", "anonymous", "restricted", "unknown") else caller
        with self.c.engine.begin() as conn:
            conn.execute(sa.insert(tw).values(call_sid=call_sid, org_id=org_id, call_id=call_id, state={},
                                              created_at=now, updated_at=now))
        return self.advance(call_sid, E.Started(caller=caller, did=did, call_id=call_id))

    def advance(self, call_sid: str, event) -> list | None:
        """Feed one event; returns the actions to render (no Invoke among them). None: unknown call."""
        with self.c.engine.connect() as conn:
            locking = conn.dialect.name == "postgresql"
            tx = conn.begin()
            try:
                row = conn.execute(sa.select(tw).where(T.call_sid == call_sid)
                                   .with_for_update(read=False) if locking else
                                   sa.select(tw).where(T.call_sid == call_sid)).one_or_none()
                if row is None:
                    tx.rollback()
                    return None
                if not locking:  # SQLite: no read transaction may stay open while the journal writes
                    tx.commit()
                state = load_state(row.state["flow"]) if row.state.get("flow") else None
                out, state = self._drive(row, state, event)
                saved = {"flow": dump_state(state), "last": [_dump_action(a) for a in out]}
                if not locking:
                    tx = conn.begin()
                conn.execute(sa.update(tw).where(T.call_sid == call_sid).values(state=saved, updated_at=utcnow()))
                tx.commit()
            except BaseException:
                if tx.is_active:
                    tx.rollback()
                raise
        return out

    def _drive(self, row, state: State | None, event) -> tuple[list, State]:
        def invoke(action: A.Invoke) -> tuple[bool, dict]:
            return self.c.calls.invoke(action.op, action.args, org_id=row.org_id, call_id=row.call_id)

        actions, state = step(self.flow, state, event)
        return resolve(self.flow, actions, state, invoke=invoke, dispatchers=self.s.dispatchers)

    def hung_up(self, call_sid: str, *, cause: str) -> bool:
        """The call ended (status callback): the flow's clean-up (a recorded description is still registered), then
        the call is closed in the journal with its path and digits. Idempotent."""
        row = self._row(call_sid)
        if row is None or row.ended:
            return row is not None
        self.advance(call_sid, E.HungUp())
        row = self._row(call_sid)
        state = load_state(row.state["flow"])
        self.c.calls.ended(row.call_id, at=utcnow(), status="answered", hangup_cause=cause,
                           ivr_path=list(state.path), digits=list(state.digits))
        with self.c.engine.begin() as conn:
            conn.execute(sa.update(tw).where(T.call_sid == call_sid).values(ended=True, updated_at=utcnow()))
        return True

    # -- recordings ----------------------------------------------------------------------------------------------
    def recording_url(self, account_sid: str, recording_sid: str) -> str:
        """Built from the configured API base, never from the URL in the webhook: the account's credentials go to
        Twilio (or the configured server) only."""
        return f"{self.s.api_base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}.wav"

    def store_recording(self, *, call_sid: str, recording_sid: str, kind: str) -> int | None:
        """Fetch a finished recording (WAV) with the account's credentials and attach it to the call (and its
        request): ``recording.stored`` follows, so it is transcribed like a SIP one. None: unknown call."""
        row = self._row(call_sid)
        if row is None:
            return None
        url = self.recording_url(self.s.account_sid, recording_sid)
        resp = requests.get(url, auth=(self.s.account_sid, self.s.auth_token), timeout=self.s.fetch_timeout_s)
        resp.raise_for_status()  # Twilio retries the callback on our 5xx; nothing is stored half
        fd, path = tempfile.mkstemp(prefix=f"twilio-{recording_sid}-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(resp.content)
            return self.c.calls.attach_recording(call_id=row.call_id, kind=kind, path=path)
        finally:
            os.unlink(path)

    # -- rows ------------------------------------------------------------------------------------------------------
    def _row(self, call_sid: str):
        with self.c.engine.connect() as conn:
            return conn.execute(sa.select(tw).where(T.call_sid == call_sid)).one_or_none()

    def _load(self, call_sid: str):
        row = self._row(call_sid)
        if row is None:
            return None
        return row, {"last": [_load_action(a) for a in (row.state.get("last") or [])]}

    def call_id(self, call_sid: str) -> int | None:
        row = self._row(call_sid)
        return row.call_id if row else None


_ACTIONS = {cls.__name__: cls for cls in (A.Play, A.Gather, A.Record, A.Transfer, A.Hangup)}


def _dump_action(action) -> dict:
    data = {f.name: _dump(getattr(action, f.name)) for f in fields(action)}
    return {"type": type(action).__name__, **data}


def _load_action(data: dict):
    data = dict(data)
    cls = _ACTIONS[data.pop("type")]
    if cls is A.Play:
        data["prompts"] = tuple(data["prompts"])
    return cls(**data)
