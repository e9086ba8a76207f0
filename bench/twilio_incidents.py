"""Twilio Voice webhooks and incident detection: what they add to a call and to a registration.

1. Twilio Voice: a whole scripted call (incoming, 3 gathers, record, recording callback, status) posted through the
   Flask test client with valid signatures; milliseconds per webhook. Baseline in the same run: the same call driven
   the way a SIP worker does (step() + CallService, no HTTP, no signature, no state row); ms per event.
2. Detection: registrations through RequestService alone (baseline), then registrations each followed by
   IncidentService.detect (what the journal worker does on request.registered); ms per request and the ratio.
   With 20 registrations about one building the incident opens at the 8th, so both "grouping" and "joining"
   are measured.

    .venv/bin/python bench/twilio_incidents.py [--calls 20] [--requests 200] [--database-url postgresql+psycopg://...]

Default database: SQLite in a temporary dir (the embedded default). The machine is shared with other work while
this runs: figures are noisy.
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ivr_flows import step  # noqa: E402
from ivr_flows import actions as A  # noqa: E402
from ivr_flows import events as E  # noqa: E402
from ivr_flows.prompts import ASTERISK_DIR  # noqa: E402
from journal_api.bootstrap import bootstrap  # noqa: E402
from journal_api.config import load_settings  # noqa: E402
from journal_api.domain.events import Actor  # noqa: E402
from journal_api.service.incidents import IncidentService  # noqa: E402
from journal_api.service.requests import NewRequest  # noqa: E402
from journal_api.service.uow import MemoryPublisher  # noqa: E402
from journal_api.storage.migrate import upgrade  # noqa: E402

SYSTEM = Actor.system("bench")
SPEECH = ASTERISK_DIR / "digits" / "5.wav"


def twilio_call(call) -> int:
    call.start()
    for key in ("1", "2", "15"):
        call.press(key)
    call.speak(SPEECH, duration=3)
    call.hang_up()
    return 7  # incoming, 3 gathers, record action, recording callback, status


def sip_like(container, flow, n: int) -> int:
    calls = container.calls
    org_id = calls.resolve_org("+74950000000")
    call_id = calls.open_call(org_id=org_id, sip_call_id=f"b{n}", call_uuid=f"bench-{n}-{secrets.token_hex(4)}",
                              from_number="+79160000001", to_number="+74950000000",
                              arrived_at=datetime.now(timezone.utc), worker="bench")
    calls.answered(call_id, datetime.now(timezone.utc))
    events = [E.Digits("1"), E.Digits("2"), E.Digits("15#"), E.Recorded("description", 3.0, "terminator")]
    actions, state = step(flow, None, E.Started(caller="+79160000001", did="+74950000000", call_id=call_id))
    count = 1
    while not state.done:
        last = actions[-1]
        if isinstance(last, A.Invoke):
            ok, data = calls.invoke(last.op, last.args, org_id=org_id, call_id=call_id)
            actions, state = step(flow, state, E.InvokeResult(last.op, ok, data))
        else:
            actions, state = step(flow, state, events.pop(0))
            count += 1
    calls.attach_recording(call_id=call_id, kind="description", path=SPEECH)
    calls.ended(call_id, at=datetime.now(timezone.utc), status="answered", ivr_path=list(state.path),
                digits=list(state.digits))
    return count + 2  # the recording and the end, as the Twilio call has them


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()

    from journal_api.app import create_app
    from telephony.twilio_calls import TwilioVoiceSettings
    from telephony.twilio_voice import EXT, VoiceWeb
    from twilio_api import TwilioServer
    from twilio_voice.twilio_support import TwilioCall

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, data_dir=tmp, env="test", database_url=args.database_url)
        upgrade(settings.effective_database_url)
        c = bootstrap(settings, publisher=MemoryPublisher())
        org = c.registry.create_organisation(f"b{secrets.token_hex(3)}", "УК Бенч", "Europe/Moscow")
        building = c.registry.upsert_building(org.id, SYSTEM, {
            "building_id": "B-1", "city": "Москва", "street": "ул. Ленина", "house": "10", "entrances": 4,
            "floors": 9, "apartments": 144})
        sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
        app = create_app(c)
        with TwilioServer(sid, token) as rec:
            web = VoiceWeb(c, TwilioVoiceSettings(account_sid=sid, auth_token=token, api_base_url=rec.url))
            app.extensions[EXT] = web
            client = app.test_client()
            twilio_call(TwilioCall(client, sid, token, caller="+79160000001", did="+74950000000", recordings=rec))
            sip_like(c, web.calls.flow, -1)  # warm both paths
            t0, hooks = time.perf_counter(), 0
            for _ in range(args.calls):
                hooks += twilio_call(TwilioCall(client, sid, token, caller="+79160000001", did="+74950000000",
                                                recordings=rec))
            tw = (time.perf_counter() - t0) * 1000 / hooks
            t0, evs = time.perf_counter(), 0
            for n in range(args.calls):
                evs += sip_like(c, web.calls.flow, n)
            direct = (time.perf_counter() - t0) * 1000 / evs
        print(f"Twilio Voice: {tw:.1f} ms per webhook ({hooks} webhooks); SIP-style direct drive: {direct:.1f} ms "
              f"per event ({evs} events); ratio webhook/direct {tw / direct:.2f}")

        incidents = IncidentService(c.uow)

        def register(i: int):
            return c.requests.register(org.id, SYSTEM, NewRequest(
                description="Нет воды", work_type="water", channel="phone", building_id=building.id,
                apartment=1 + (i * 7) % 144, caller_phone=f"+7916{i % 10000000:07d}"))

        base = []
        for i in range(args.requests):
            t0 = time.perf_counter()
            register(i)
            base.append((time.perf_counter() - t0) * 1000)
        with_detect, detect_only = [], []
        for i in range(args.requests):
            t0 = time.perf_counter()
            r = register(10_000 + i)
            t1 = time.perf_counter()
            incidents.detect(r.id)
            t2 = time.perf_counter()
            with_detect.append((t2 - t0) * 1000)
            detect_only.append((t2 - t1) * 1000)
        found = incidents.find(org.id)
        print(f"Registration alone: median {statistics.median(base):.1f} ms; with detection: median "
              f"{statistics.median(with_detect):.1f} ms (detection {statistics.median(detect_only):.1f} ms, p95 "
              f"{sorted(detect_only)[int(0.95 * len(detect_only)) - 1]:.1f} ms); ratio "
              f"{statistics.median(with_detect) / statistics.median(base):.2f}; incidents: "
              f"{[(i['status'], i['scope'], i['requests_count']) for i in found]}")
        print(f"database: {c.engine.dialect.name}; the machine is shared: figures are noisy")
        result = {"database": c.engine.dialect.name, "calls": args.calls, "requests": args.requests,
                  "webhook_ms": round(tw, 2), "direct_event_ms": round(direct, 2),
                  "webhook_ratio": round(tw / direct, 2),
                  "register_ms": round(statistics.median(base), 2),
                  "register_detect_ms": round(statistics.median(with_detect), 2),
                  "detect_ms": round(statistics.median(detect_only), 2)}
        out = ROOT / "bench" / "results" / f"twilio_incidents-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        c.dispose()


if __name__ == "__main__":
    main()
