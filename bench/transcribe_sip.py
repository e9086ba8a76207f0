"""Hang-up -> transcript through the real SIP path (part of bench/transcribe.py, ``--sip``).

A throwaway PostgreSQL database, `hotline sip` with one worker (4 calls at most, the pjsua2 wheel's cap), and
``--calls`` simultaneous `hotline call` pjsua2 callers: each keys the category and apartment, then speaks
``--seconds`` of Russian (Asterisk RU prompts) after the beep, and stays silent until the IVR ends the description
on silence (5 s, the default flow), registers the request, says its number and hangs up. The live transcriber runs
in this process on the same Redis list as the SIP worker. Clocks: the segment's ``.done`` file (the end of the
description) and the call's end (hang-up) -> the transcript stored."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "telephony"))
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def run(args, s, description_pcm, write_wav) -> dict:
    from redis import Redis

    from journal_api.bootstrap import bootstrap
    from journal_api.config import load_settings
    from journal_api.domain.events import Actor
    from journal_api.service.uow import MemoryPublisher
    from journal_api.storage import tables_calls as tc
    from journal_api.storage.migrate import upgrade
    from sip_support import Hotline, caller
    from transcription.live import LiveTranscriber

    name = f"hotline_bench_asr_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-sip-"))
    hotline = redis = None
    try:
        upgrade(url)
        settings = load_settings(environ={}, database_url=url, redis_url="redis://127.0.0.1:6379/9",
                                 data_dir=str(tmp), env="test", queue_name=f"bench-asr-{uuid.uuid4().hex[:6]}")
        c = bootstrap(settings, publisher=MemoryPublisher())
        org = c.registry.create_organisation("demo", "УК Демо", "Europe/Moscow")
        c.registry.upsert_building(org.id, Actor.system("bench"), {
            "building_id": "B-1", "city": "Москва", "street": "ул. Ленина", "house": "10", "korpus": "2",
            "entrances": 4, "floors": 9, "apartments": 144})
        live = LiveTranscriber(c, dataclasses.replace(s, capacity=args.calls), engine_name=args.engine)
        redis = Redis.from_url(settings.redis_url)
        consumer = threading.Thread(target=live.run, args=(redis,), daemon=True)
        consumer.start()
        hotline = Hotline(settings, 1, HOTLINE_IVR_RECORD_SILENCE_S="5")
        ready, after_hangup = [], []
        for rnd in range(args.rounds):
            files = [write_wav(tmp / f"say-{rnd}-{k}.wav", description_pcm(args.seconds, seed=rnd * 10 + k))
                     for k in range(args.calls)]
            results = [None] * args.calls

            def one(k):
                results[k] = caller(hotline.uri, "--from", f"sip:+7916123456{k}@127.0.0.1", "--dtmf",
                                    "2@2,1@4.5,12#@7", "--play", files[k], "--timeout", args.seconds + 60,
                                    timeout=args.seconds + 60)

            threads = [threading.Thread(target=one, args=(k,)) for k in range(args.calls)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            live.join(timeout=120)
            for _ in range(100):  # the worker writes the call's end after the caller has gone
                with c.engine.connect() as conn:
                    calls = conn.execute(sa.select(tc.calls).order_by(tc.calls.c.id.desc()).limit(args.calls)).all()
                if all(call.ended_at is not None for call in calls):
                    break
                threading.Event().wait(0.2)
            for call in calls:
                row = c.transcripts.find(call_id=call.id, kind="description")
                if row is None or row.status != "done" or not row.source_path:
                    print(f"  call {call.id}: {row.status if row else 'no transcript'}")
                    continue
                done = Path(row.source_path + ".done").stat().st_mtime
                ready.append(row.finished_at.timestamp() - done)
                if call.ended_at is not None:
                    after_hangup.append(row.finished_at.timestamp() - call.ended_at.timestamp())
            print(f"  round {rnd + 1}: after the description's end {[round(x, 2) for x in ready[-args.calls:]]} s;"
                  f" connected {[bool(r and r.get('connected')) for r in results]}")
        live.stop.set()
        consumer.join(3)
        from transcription.engine import get_engine

        engine, batch = get_engine(s, args.engine), []
        for call in calls[:2]:  # baseline: the rq path, the same description transcribed after the call
            row = c.transcripts.find(call_id=call.id, kind="description")
            if row is not None and row.source_path and Path(row.source_path).exists():
                t0 = time.perf_counter()
                engine.transcribe(row.source_path)
                batch.append(time.perf_counter() - t0)
        c.dispose()
        return {"path": "SIP (hotline call -> hotline sip -> growing WAV -> transcriber)", "calls_at_once": args.calls,
                "seconds": args.seconds, "rounds": args.rounds, "n": len(ready),
                "ready_after_segment_end_p50_s": round(float(np.percentile(ready, 50)), 2) if ready else None,
                "ready_after_segment_end_p95_s": round(float(np.percentile(ready, 95)), 2) if ready else None,
                "transcript_before_hangup_fraction": round(sum(x <= 0 for x in after_hangup) / len(after_hangup), 2)
                if after_hangup else None,
                "ready_after_hangup_p95_s": round(float(np.percentile(after_hangup, 95)), 2) if after_hangup
                else None,
                "baseline_batch_after_hangup_p50_s": round(float(np.median(batch)), 2) if batch else None,
                "ratio_live_p95_to_batch": round(float(np.percentile(ready, 95)) / float(np.median(batch)), 3)
                if batch and ready else None}
    finally:
        if hotline is not None:
            hotline.stop()
        if redis is not None:
            redis.close()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
