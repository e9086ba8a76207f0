"""The worker's side door to the journal: every call into CallService runs on a small thread pool that never
touches pjsua, and its result comes back through a queue that the event loop drains.

When the database is down the call goes on: an Invoke answers ``ok=False, error="db_down"``, a registration is
spooled to ``spool/requests/`` and replayed by :meth:`Journal.replay` once the database answers again, and the
call's manifest stays in ``spool/calls/`` until its recordings are stored. A missed call (every line busy, or the
hotline shutting down) that cannot be logged is spooled to ``spool/missed/`` and replayed the same way. Replays
keep the times recorded during the call (arrival, answer, end, refusal): the ПП 416 answer-time report is about
the call, not about when the database came back.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from recordings import spool

from .staff_calls import STAFF_OPS, technician_account

log = logging.getLogger(__name__)

ORG_OPS = {"lookup_caller", "buildings_for_apartment", "request_status"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def is_db_down(exc: BaseException) -> bool:
    import sqlalchemy.exc as sa_exc

    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                            sa_exc.TimeoutError, ConnectionError))


def caller_phone(remote_uri: str) -> str | None:
    """The caller's number from a From URI, in E.164; None when anonymous or not a phone number."""
    from journal_api.domain.errors import InvalidPhone
    from journal_api.domain.phones import normalize_phone

    text = remote_uri or ""
    if "<" in text:
        text = text.split("<", 1)[1].split(">", 1)[0]
    user = text.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
    if not user or user.lower() in ("anonymous", "unknown", "restricted", "unavailable"):
        return None
    try:
        return normalize_phone(user)
    except (InvalidPhone, ValueError):
        return None


def dialled_number(local_uri: str, default: str) -> str:
    text = local_uri or ""
    if "<" in text:
        text = text.split("<", 1)[1].split(">", 1)[0]
    user = text.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
    return user or default


class Journal:
    """Runs CallService calls off the loop. ``results`` receives ``(key, kind, payload)`` tuples."""

    def __init__(self, settings, data_dir: str | os.PathLike, *, worker: str, threads: int = 3,
                 container=None):
        self.settings = settings
        self.dirs = spool.spool_dirs(data_dir)
        self.worker = worker
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="journal")
        self._container = container
        self._redis = None
        self._lock = threading.Lock()

    # -- wiring ---------------------------------------------------------------------------------------------
    @property
    def container(self):
        with self._lock:  # the pool's threads would otherwise wire it twice (and map the ORM twice)
            if self._container is None:
                from journal_api.bootstrap import bootstrap

                self._container = bootstrap(self.settings)
        return self._container

    @property
    def calls(self):
        return self.container.calls

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)
        if self._container is not None:
            self._container.dispose()

    def submit(self, key, kind: str, fn, *args, **kwargs) -> None:
        def run():
            started = time.monotonic()
            try:
                payload = fn(*args, **kwargs)
                log.info("journal %s took %.0f ms", kind, (time.monotonic() - started) * 1000)
            except Exception as exc:  # reported back to the call: the loop decides, nothing is swallowed
                if not is_db_down(exc):
                    log.exception("journal %s failed", kind)
                payload = {"ok": False, "error": "db_down" if is_db_down(exc) else "error", "detail": str(exc)}
            self.results.put((key, kind, payload))

        self.pool.submit(run)

    def warm(self) -> dict:
        """Build the wiring and open a database connection before the first call needs them."""
        import sqlalchemy as sa

        with self.container.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"ok": True}

    # -- the call's life ------------------------------------------------------------------------------------
    def open_call(self, info: dict) -> dict:
        org_id = self.calls.resolve_org(info["to_number"])
        if org_id is None:
            return {"ok": False, "error": "no_org"}
        call_id = self.calls.open_call(org_id=org_id, sip_call_id=info["sip_call_id"],
                                       call_uuid=info["call_uuid"], from_number=info["from_number"],
                                       to_number=info["to_number"], arrived_at=info["arrived_at"],
                                       worker=self.worker)
        self.calls.answered(call_id, _dt(info.get("answered_at")) or utcnow())
        return {"ok": True, "org_id": org_id, "call_id": call_id}

    def missed(self, info: dict) -> dict:
        """Log a call nobody answered, at the time it was refused (``info["at"]``, else now). If the journal cannot
        take it, it is spooled for :meth:`replay` and the error is raised (and reported by :meth:`submit`)."""
        info = {**info, "at": info.get("at") or utcnow().isoformat(),
                "call_uuid": info.get("call_uuid") or uuid.uuid4().hex}
        try:
            return self._missed(info)
        except Exception:
            spool.write_json(self.dirs["missed"] / f"{info['call_uuid']}.json", info)
            raise

    def _missed(self, info: dict) -> dict:
        org_id = self.calls.resolve_org(info["to_number"])
        if org_id is None:
            log.warning("missed call %s from %s: no organisation takes %s", info["call_uuid"],
                        info.get("from_number"), info["to_number"])
            return {"ok": False, "error": "no_org"}
        call_id = self.calls.missed(org_id=org_id, sip_call_id=info["sip_call_id"],
                                    from_number=info["from_number"], to_number=info["to_number"],
                                    at=_dt(info["at"]), status=info.get("status", "over_capacity"),
                                    hangup_cause=info.get("hangup_cause"), call_uuid=info["call_uuid"])
        return {"ok": True, "call_id": call_id}

    def invoke(self, manifest: dict, op: str, args: dict) -> dict:
        """One of the flow's Invoke ops; returns ``{"ok", "data"}`` for InvokeResult."""
        org_id, call_id = manifest.get("org_id"), manifest.get("call_id")
        if op in STAFF_OPS:  # which request a staff call is about: nothing to spool, the call goes on without one
            if call_id is None:
                return {"ok": False, "data": {"error": "no_call"}}
            if op == "staff_request":
                args = {**args, "account": technician_account(manifest)}
        try:
            if call_id is None and op in ("register_request", "callback_task"):
                raise ConnectionError("the call was never opened in the journal")
            fn = getattr(self.calls, "register_from_call" if op == "register_request" else op)
            if op in ORG_OPS:
                data = fn(org_id, **args) if org_id is not None else None
            else:
                data = fn(call_id, **args)
        except Exception as exc:
            if op in ("register_request", "callback_task"):
                self.spool_request(manifest, op, args)
            if is_db_down(exc):
                return {"ok": False, "data": {"error": "db_down", "spooled": op in ("register_request",
                                                                                   "callback_task")}}
            log.exception("invoke %s failed", op)
            return {"ok": False, "data": {"error": getattr(exc, "code", None) or type(exc).__name__}}
        if data is None:
            return {"ok": False, "data": {"error": "not_found"}}
        if isinstance(data, list):
            data = {"items": data}
        return {"ok": True, "data": dict(data)}

    def spool_request(self, manifest: dict, op: str, args: dict) -> None:
        path = self.dirs["requests"] / f"{manifest['call_uuid']}-{op}.json"
        spool.write_json(path, {"op": op, "args": args, "call_uuid": manifest["call_uuid"],
                                "spooled_at": utcnow().isoformat()})

    def announce_live(self, entry: dict) -> None:
        """RPUSH the live segment for transcription; a Redis outage only loses the live view, not the audio."""
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.settings.redis_url, socket_timeout=2)
        name = self.live_queue
        self._redis.rpush(f"hotline:live:{name}", json.dumps(entry, ensure_ascii=False, default=str))
        return {"ok": True}

    @property
    def live_queue(self) -> str:
        return getattr(self, "_live_queue", "") or self.settings.queue_name

    # -- after the call -------------------------------------------------------------------------------------
    def store(self, manifest_path: Path) -> dict:
        """Claim the manifest (one process stores a call, not two) and :meth:`finish` it."""
        claim = manifest_path.with_name(manifest_path.name + f".{os.getpid()}")
        try:
            os.replace(manifest_path, claim)
        except FileNotFoundError:
            return {"ok": True, "claimed_elsewhere": True}
        try:
            return self.finish(claim)
        finally:
            os.replace(claim, manifest_path)

    def finish(self, manifest_path: Path) -> dict:
        """End the call in the journal and store its recordings; idempotent, resumable after a failure."""
        data = spool.read_json(manifest_path)
        if not data or data.get("state") == "stored":
            return {"ok": True}
        if data.get("call_id") is None:
            opened = self.open_call({**data, "arrived_at": _dt(data["arrived_at"])})
            if not opened["ok"]:  # no organisation takes this number: nothing to store it under
                log.warning("call %s: %s; its recordings stay in the spool", data["call_uuid"], opened["error"])
                data.update(state="stored", stored_at=time.time(), error=opened["error"])
                spool.write_json(manifest_path, data)
                return opened
            data.update(org_id=opened["org_id"], call_id=opened["call_id"])
            spool.write_json(manifest_path, data)
        self._replay_requests(data)
        if not data.get("ended_logged"):
            self.calls.ended(data["call_id"], at=_dt(data.get("ended_at")) or utcnow(),
                             status=data.get("status") or "failed", hangup_cause=data.get("hangup_cause") or "",
                             ivr_path=data.get("ivr_path") or [], digits=data.get("digits") or [])
            data["ended_logged"] = True
            spool.write_json(manifest_path, data)
        for rec in data.get("recordings", []):
            if rec.get("recording_id") or not os.path.exists(rec["path"]):
                continue
            spool.fix_wav_header(rec["path"])
            if spool.wav_seconds(rec["path"]) <= 0 and rec["kind"] != "call":
                continue
            rec["recording_id"] = self.calls.attach_recording(call_id=data["call_id"], kind=rec["kind"],
                                                              path=rec["path"],
                                                              request_id=data.get("request_id"))
            spool.write_json(manifest_path, data)
        if data.get("staff") and not data.get("history_logged"):  # the call's line in its request's history
            talk = _dt(data.get("bridged_at")), _dt(data.get("ended_at"))
            self.calls.log_staff_call(data["call_id"], account=data.get("sip_user"),
                                      talk_s=(talk[1] - talk[0]).total_seconds() if all(talk) else None)
            data["history_logged"] = True  # written with the state below
        data.update(state="stored", stored_at=time.time())
        spool.write_json(manifest_path, data)
        return {"ok": True, "call_id": data["call_id"]}

    def _replay_requests(self, data: dict) -> None:
        for path in sorted(self.dirs["requests"].glob(f"{data['call_uuid']}-*.json")):
            item = spool.read_json(path)
            if not item:
                continue
            fn = getattr(self.calls, "register_from_call" if item["op"] == "register_request" else item["op"])
            result = fn(data["call_id"], **item["args"])
            if item["op"] == "register_request" and isinstance(result, dict):
                data["request_id"] = result.get("request_id") or data.get("request_id")
                data["request_number"] = result.get("number")
            path.unlink()

    def replay(self) -> int:
        """Store what an earlier failure or a dead worker left in the spool. Returns the calls stored."""
        done = self._replay_missed()
        for path, data in spool.orphaned_manifests(self.dirs["calls"]):
            if data.get("state") != "ended":  # a dead worker's call: close it as failed
                for rec in data.get("recordings", []):
                    if os.path.exists(rec["path"]):
                        spool.fix_wav_header(rec["path"])
                described = any(r["kind"] in ("description", "voicemail") and os.path.exists(r["path"])
                                and spool.wav_seconds(r["path"]) > 0 for r in data.get("recordings", []))
                if described and not data.get("request_id"):  # what the caller said becomes a request
                    op = "register_request" if any(r["kind"] == "description" for r in data["recordings"]) \
                        else "callback_task"
                    args = dict(data.get("request_vars") or {}) if op == "register_request" else \
                        {"reason": "voicemail"}
                    if not list(self.dirs["requests"].glob(f"{data['call_uuid']}-*.json")):
                        self.spool_request(data, op, args)
                data.update(state="ended", status=data.get("status") or "failed",
                            hangup_cause=data.get("hangup_cause") or "worker_died",
                            ended_at=data.get("ended_at") or _last_sound(data) or utcnow().isoformat())
                spool.write_json(path, data)
            try:
                done += 0 if self.store(path).get("claimed_elsewhere") else 1
            except Exception as exc:
                if not is_db_down(exc):
                    log.exception("replaying %s failed", path.name)
        return done


    def _replay_missed(self) -> int:
        """The missed calls spooled while the journal was down, logged once each (by their call_uuid)."""
        done = 0
        for path in sorted(self.dirs["missed"].glob("*.json")):
            info = spool.read_json(path)
            if info is None:
                continue
            try:
                self._missed(info)
            except Exception as exc:
                if is_db_down(exc):
                    return done  # still down: the rest waits for the next replay
                log.exception("replaying the missed call %s failed; it stays in the spool", path.name)
                continue
            path.unlink(missing_ok=True)
            done += 1
        return done


def _last_sound(data: dict) -> str | None:
    """When a dead worker's call ended: the last write to its recordings (the worker wrote audio until it died)."""
    times = [os.path.getmtime(r["path"]) for r in data.get("recordings", []) if os.path.exists(r["path"])]
    return datetime.fromtimestamp(max(times), timezone.utc).isoformat() if times else None


def _dt(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
