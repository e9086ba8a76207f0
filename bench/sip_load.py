"""SIP load: concurrent IVR calls with recording, through Kamailio, against `hotline sip` with N workers.

Each call is SIPp: INVITE, the keys of the default flow (2: a request, 1: water, 12#: apartment 12) as RFC 2833
packets, 5 s of Russian speech (Asterisk RU) streamed after the beep, then it waits for the IVR to say the number
and hang up. Levels of concurrency are ramped (``--levels 1,8,16,32,64``); the first level is the baseline the others
are compared with. Per level it reports:

- completed calls (SIPp's successful calls) and complete recordings (whole call + description stored in the journal);
- lost audio: the share of the speech's quarter-second windows NOT found in the stored description (cross-correlation,
  as in the tests); and, per call, the seconds of audio missing from the description by its duration: what was
  expected (the silence before the caller's first word, as recorded, + the sent speech from its first to its last
  loud 100 ms + the IVR's trailing silence that ends the description, ``record_silence_s``) less what was stored
  (``lost_s_mean``/``lost_s_max``, and ``lost_by_duration_pct`` of the speech; negative: audio stretched);
- set-up latency (INVITE to 200 OK, SIPp's response time) p50/p95;
- CPU per call: CPU seconds of the workers and Kamailio (from /proc) per completed call, less their idle CPU
  (measured for 10 s before the first level); and how busy the machine's cores were during the level.

Target (issue 4): 64 concurrent calls on 2 cores, 100 % complete recordings, set-up p95 < 200 ms.
Usage: ``python bench/sip_load.py [--workers 16 --levels 1,8,16,32,64]``. The machine may be shared with other
work: the figures are noisy, say so when you quote them.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "telephony"))  # the tests' correlation measure (sip_audio.py)

from journal_api.bootstrap import bootstrap  # noqa: E402
from journal_api.config import load_settings  # noqa: E402
from journal_api.domain.events import Actor  # noqa: E402
from journal_api.service.uow import MemoryPublisher  # noqa: E402
from journal_api.storage import tables_calls as tc  # noqa: E402
from journal_api.storage.migrate import upgrade  # noqa: E402
from sip_audio import match_fraction, read_wav  # noqa: E402
from telephony.netutil import free_port, free_udp_range  # noqa: E402
from telephony.sipp import dtmf_steps, ivr_scenario, sipp_command, ulaw  # noqa: E402

SOUNDS = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")
PG_ADMIN = os.environ.get("HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
P95_TARGET_MS = 200.0
TICKS = os.sysconf("SC_CLK_TCK")
RECORD_SILENCE_S = 2.0  # HOTLINE_IVR_RECORD_SILENCE_S below: the silence that ends a description
LOUD_RMS = 400 / 32768  # the IVR's silence threshold (telephony/media.py), per 100 ms


def loud_span(path) -> tuple[float, float] | None:
    """(first, last) second of a 100 ms window louder than the IVR's silence threshold; None: all quiet."""
    import numpy as np

    data, rate = read_wav(path)
    step = rate // 10
    windows = len(data) // step
    if windows == 0:
        return None
    rms = np.sqrt((data[:windows * step].reshape(windows, step).astype(np.float64) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= LOUD_RMS)
    return (loud[0] / 10.0, (loud[-1] + 1) / 10.0) if len(loud) else None


def lost_seconds(description, duration_s: float, sent_span: tuple[float, float]) -> float | None:
    """Seconds missing from a stored description: expected (its own silence before the first word + the sent
    speech's loud span + the trailing silence that ends it) less its duration."""
    span = loud_span(description)
    if span is None:
        return None
    return round(span[0] + (sent_span[1] - sent_span[0]) + RECORD_SILENCE_S - duration_s, 3)


def cpu_seconds(root_pid: int) -> float:
    """utime + stime of every descendant of ``root_pid`` (workers, Kamailio and its children)."""
    total, stack, seen = 0.0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def setup_database() -> tuple[str, str]:
    name = f"hotline_bench_sip_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return name, url


def drop_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def start_hotline(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "journal_api.cli", "sip"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=open(Path(env["HOTLINE_DATA_DIR"]) / "sip.log", "w"),
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "SIP ready" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.terminate()
    raise SystemExit(f"hotline sip did not start; see {env['HOTLINE_DATA_DIR']}/sip.log")


def run_level(level: int, *, port: int, work: Path, speech: Path, voice: Path, container, hotline_pid: int,
              rate: float, idle_cpu_per_s: float = 0.0) -> dict:
    keys = dtmf_steps(work, [(2000, "2"), (4500, "1"), (7000, "12#")])
    scenario = work / f"level-{level}.xml"
    scenario.write_text(ivr_scenario(steps=keys + [(15500, f"play:{voice}")], wait_bye_ms=90000))
    with container.engine.connect() as conn:
        before = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(tc.calls.c.id), 0)))
    cpu0, t0 = cpu_seconds(hotline_pid), time.monotonic()
    argv = sipp_command(scenario, f"127.0.0.1:{port}", local_port=free_port(), media_port=free_udp_range(4 * level + 4),
                        calls=level, rate=rate, limit=level, timeout_s=150)
    proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=200)
    wall = time.monotonic() - t0
    stat_rows = list(csv.DictReader(open(next(work.glob(f"level-{level}_*_.csv"))), delimiter=";"))
    ok = int(stat_rows[-1]["SuccessfulCall(C)"]) if stat_rows else 0
    failed = int(stat_rows[-1]["FailedCall(C)"]) if stat_rows else level
    rtts = []
    for path in work.glob(f"level-{level}_*_rtt.csv"):
        for row in csv.DictReader(open(path), delimiter=";"):
            rtts.append(float(row["response_time_ms"]))
        path.unlink()

    def stored():
        with container.engine.connect() as conn:
            calls = conn.execute(sa.select(tc.calls.c.id).where(tc.calls.c.id > before,
                                                                 tc.calls.c.ended_at.is_not(None))).scalars().all()
            recs = conn.execute(sa.select(tc.recordings).where(tc.recordings.c.call_id.in_(calls))).mappings().all()
        by_call: dict[int, dict] = {}
        for rec in recs:
            by_call.setdefault(rec["call_id"], {})[rec["kind"]] = rec
        return calls, [c for c in by_call.values() if "call" in c and "description" in c]
    deadline = time.monotonic() + 90
    calls, complete = stored()
    while time.monotonic() < deadline and len(complete) < level:
        time.sleep(1)
        calls, complete = stored()
    cpu = cpu_seconds(hotline_pid) - cpu0 - idle_cpu_per_s * (time.monotonic() - t0)
    sample = complete[:16]  # the correlation is measured on up to 16 calls per level (it costs CPU)
    lost = [1 - match_fraction(container.blobs._path(c["description"]["blob_key"]), speech) for c in sample]
    durations = [c["description"]["duration_s"] for c in complete]
    sent = loud_span(speech)
    by_duration = [x for x in (lost_seconds(container.blobs._path(c["description"]["blob_key"]),
                                            c["description"]["duration_s"], sent) for c in complete) if x is not None]
    speech_s = sent[1] - sent[0]
    for stale in work.glob(f"level-{level}_*"):
        if not stale.name.endswith("errors.log"):  # SIPp's errors stay for a look
            stale.unlink()
    crashes = sum("exited with" in line for line in open(work / "sip.log", errors="replace"))
    return {"level": level, "worker_crashes_so_far": crashes, "sipp_ok": ok, "sipp_failed": failed, "sipp_exit": proc.returncode,
            "calls_logged": len(calls), "complete_recordings": len(complete),
            "complete_pct": round(100.0 * len(complete) / level, 1),
            "lost_audio_pct": round(100.0 * statistics.mean(lost), 1) if lost else None,
            "description_s_mean": round(statistics.mean(durations), 2) if durations else None,
            "speech_sent_s": round(speech_s, 2),
            "lost_s_mean": round(statistics.mean(by_duration), 3) if by_duration else None,
            "lost_s_max": round(max(by_duration), 3) if by_duration else None,
            "lost_by_duration_pct": round(100.0 * statistics.mean(by_duration) / speech_s, 1) if by_duration else None,
            "setup_p50_ms": round(percentile(rtts, 0.5), 1), "setup_p95_ms": round(percentile(rtts, 0.95), 1),
            "cpu_s_per_call": round(cpu / max(1, ok), 3), "wall_s": round(wall, 1),
            "cpu_busy_pct": round(100.0 * (cpu + idle_cpu_per_s * wall) / wall / (os.cpu_count() or 1), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--levels", default="1,8,16,32,64")
    parser.add_argument("--rate", type=float, default=10.0, help="new calls per second while ramping a level")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    work = Path(tempfile.mkdtemp(prefix="sip-load-"))
    name, url = setup_database()
    queue = f"bench-sip-{uuid.uuid4().hex[:6]}"
    settings = load_settings(environ={}, database_url=url, data_dir=str(work), redis_url=args.redis_url,
                             queue_name=queue)
    container = bootstrap(settings, publisher=MemoryPublisher())
    org = container.registry.create_organisation("bench", "УК Нагрузка", "Europe/Moscow")
    container.registry.upsert_building(org.id, Actor.system("bench"), {
        "building_id": "B-1", "city": "Москва", "street": "ул. Ленина", "house": "10", "entrances": 4, "floors": 9,
        "apartments": 144})
    speech = work / "speech.wav"
    subprocess.run(["sox", str(SOUNDS / "basic-pbx-ivr-main.wav"), str(speech), "trim", "0", "5"], check=True)
    voice = ulaw(speech, work / "speech-ulaw.wav")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=url, HOTLINE_REDIS_URL=args.redis_url, HOTLINE_QUEUE_NAME=queue,
               HOTLINE_DATA_DIR=str(work), HOTLINE_SIP_PORT=str(port), HOTLINE_SIP_WORKERS=str(args.workers),
               HOTLINE_IVR_RECORD_SILENCE_S=str(RECORD_SILENCE_S), HOTLINE_SIP_DRAIN_SECONDS="5")
    hotline = start_hotline(env, port)
    results = []
    try:
        run_level(1, port=port, work=work, speech=speech, voice=voice, container=container,
                  hotline_pid=hotline.pid, rate=args.rate)  # warm-up: first connections, first prompt reads
        time.sleep(2)
        cpu0 = cpu_seconds(hotline.pid)
        time.sleep(10)
        idle = (cpu_seconds(hotline.pid) - cpu0) / 10  # the idle loops of the workers and Kamailio
        print(f"idle: {idle * 100:.1f} % of one core for {args.workers} workers + Kamailio", flush=True)
        for level in levels:
            result = run_level(level, port=port, work=work, speech=speech, voice=voice, container=container,
                               hotline_pid=hotline.pid, rate=args.rate, idle_cpu_per_s=idle)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        hotline.send_signal(signal.SIGTERM)
        try:
            hotline.wait(60)
        except subprocess.TimeoutExpired:
            hotline.kill()
        container.dispose()
        drop_database(name)
        import redis

        redis.Redis.from_url(args.redis_url).delete(f"hotline:live:{queue}", f"rq:queue:{queue}")
    base = results[0]
    print(f"\nworkers={args.workers}, cores={os.cpu_count()}, baseline = {base['level']} call(s); "
          f"idle CPU {idle * 100:.1f} % of a core (subtracted from CPU per call)")
    print(f"{'calls':>6} {'ok':>4} {'complete%':>9} {'lost%':>6} {'lost s':>7} {'max s':>6} {'p50ms':>7} "
          f"{'p95ms':>7} {'p95/base':>8} {'cpu s/call':>10} {'cpu/base':>8} {'busy%':>6}")
    for r in results:
        print(f"{r['level']:>6} {r['sipp_ok']:>4} {r['complete_pct']:>9} {r['lost_audio_pct'] or 0:>6} "
              f"{r['lost_s_mean'] if r['lost_s_mean'] is not None else '-':>7} "
              f"{r['lost_s_max'] if r['lost_s_max'] is not None else '-':>6} "
              f"{r['setup_p50_ms']:>7} {r['setup_p95_ms']:>7} "
              f"{r['setup_p95_ms'] / max(base['setup_p95_ms'], 0.1):>8.2f} "
              f"{r['cpu_s_per_call']:>10} {r['cpu_s_per_call'] / max(base['cpu_s_per_call'], 0.001):>8.2f} "
              f"{r['cpu_busy_pct']:>6}")
    top = results[-1]
    met = top["complete_pct"] == 100.0 and top["sipp_ok"] == top["level"] and top["setup_p95_ms"] < P95_TARGET_MS
    print(f"target at {top['level']} calls (100 % complete recordings, set-up p95 < {P95_TARGET_MS:.0f} ms): "
          f"{'MET' if met else 'MISSED'}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"sip_load-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(
        {"workers": args.workers, "idle_cpu_core_pct": round(idle * 100, 1), "levels": results, "target_met": met},
        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
