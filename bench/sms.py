"""SMS: outbox throughput to a real Kannel, and the lateness of 10,000 scheduled reminders, through the production
processes: `hotline worker` (rq SimpleWorker) processes and the one scheduler, `hotline cron` (rq's cron).

1. **Throughput**: bearerbox + smsbox + kannel-extras' fakesmsc on loopback (as in tests/notifier). N messages are
   stored in the outbox and enqueued on the real rq queue (one job per message, 10 % of them enqueued twice); W
   `hotline worker` processes send them through the real send path (claim in the database, rate limiter in Redis,
   HTTP sendsms, result); the run waits until the fake SMSC has received every message and counts duplicates there.
   Baseline, same run: the same number of bare sendsms HTTP calls (no outbox, no rq) from as many threads.
2. **Lateness**: 10,000 open assigned requests whose acceptance reminder falls due within a window a few seconds
   ahead (``--window``, 120 s by default: 83 a second) (an organisation ladder override: ``assigned+30s``). Each
   request's wake-up is set to "now", as a change of the request sets it. `hotline cron` enqueues the notifier's
   wake-up job every 0.25 s and the W workers run it (the ladder for the requests whose moment came, their messages
   composed at once) and the send jobs (the ``log`` provider), with the scheduler's other periodic jobs (the full
   escalation tick every minute, ...) running too. Lateness is the message's ``sent_at`` minus its ladder moment.
   Baseline, same run: one full ``EscalationService.tick`` over the same open requests (what the minute's job does),
   whose duration bounds how often a full-scan scheduler could run.

Targets (issue 6): >= 50 msg/s to Kannel; p95 lateness <= 2 s; zero duplicates. The machine is shared: figures are
noisy. Usage: ``python bench/sms.py [--messages 2000 --workers 4 --reminders 10000 --window 120]``.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "notifier"))  # the Kannel runner and the process starter of the tests

import benchdb  # noqa: E402
from cron_support import hotline_env, start, stop  # noqa: E402
from journal_api.bootstrap import bootstrap  # noqa: E402
from journal_api.config import load_settings  # noqa: E402
from journal_api.cron import cron_queue_name  # noqa: E402
from journal_api.domain.events import Actor  # noqa: E402
from journal_api.service.escalation import EscalationService  # noqa: E402
from journal_api.service.uow import MemoryPublisher  # noqa: E402
from journal_api.storage import tables as t  # noqa: E402
from journal_api.storage.tables_messages import messages, sms_wakeups  # noqa: E402
from notifier.outbox import NewMessage  # noqa: E402
from notifier.segments import count  # noqa: E402
from notifier.service import Notifier, RQEnqueuer  # noqa: E402
from notifier.settings import SmsSettings  # noqa: E402
from notifier.templates import Rendered  # noqa: E402
from sms_kannel import Kannel, wait_for  # noqa: E402

SYSTEM = Actor.system("bench")
THROUGHPUT_TARGET, LATENESS_TARGET = 50.0, 2.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--reminders", type=int, default=10_000)
    p.add_argument("--window", type=float, default=120.0, help="seconds over which the reminders fall due")
    p.add_argument("--workers", type=int, default=4, help="`hotline worker` processes")
    p.add_argument("--db", default="hotline_bench_sms")
    p.add_argument("--pg-admin-url", default=os.environ.get(
        "HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--results", default=str(HERE / "results"))
    return p.parse_args(argv)


def recreate(args) -> str:
    return benchdb.recreate(args.pg_admin_url, args.db)


def drop(args) -> None:
    benchdb.drop(args.pg_admin_url, args.db)


class Sink:
    """Kannel's DLR callbacks land here (the bench measures sending, not our webhook)."""

    def __init__(self):
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


def pool(threads: int, work) -> None:
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def workers(settings, redis, count: int, env: dict, logdir: Path, *, cron: bool = False) -> list:
    """``count`` `hotline worker` processes (and `hotline cron`), once every worker has registered with rq."""
    from rq import Worker

    procs = [start("worker", env, logdir / f"worker{i}.log") for i in range(count)]
    if cron:
        procs.append(start("cron", env, logdir / "cron.log"))
    wait_for(lambda: sum(settings.queue_name in w.queue_names() for w in Worker.all(connection=redis)) >= count,
             timeout=120, step=0.1)
    if any(p.poll() is not None for p in procs):
        raise RuntimeError(f"a process died at start; see {logdir}")
    return procs


def throughput(args, c, org_id, redis, logdir: Path) -> dict:
    sink = Sink()
    workdir = Path(tempfile.mkdtemp(prefix="hotline-bench-kannel-"))
    base = SmsSettings(provider="kannel", kannel_password="pw", kannel_secret="x", sender="4740",
                       rate_per_second=100_000, callback_url=sink.url)
    kannel = Kannel(base, sink.url, workdir)
    kannel.start()
    procs = []
    try:
        n = args.messages
        # baseline: bare sendsms calls
        todo = queue.Queue()
        for i in range(n):
            todo.put(i)

        def bare():
            http = requests.Session()
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                http.get(kannel.sendsms_url, params={"username": "hotline", "password": "pw", "from": "4740",
                                                     "to": "+79990000001", "text": f"База {i}", "charset": "UTF-8",
                                                     "coding": "2"}, timeout=10)

        start_at = time.perf_counter()
        pool(args.workers, bare)
        wait_for(lambda: len(kannel.received) >= n, timeout=120, step=0.02)
        bare_rate = n / (time.perf_counter() - start_at)

        env = hotline_env(c.settings, args.redis_url, provider="kannel", kannel_sendsms_url=kannel.sendsms_url,
                          kannel_password="pw", kannel_secret="x", sender="4740", rate_per_second=100_000,
                          callback_url=sink.url)
        procs = workers(c.settings, redis, args.workers, env, logdir)
        from rq import Queue

        enqueuer = RQEnqueuer(Queue(c.settings.queue_name, connection=redis))
        notifier = Notifier(c, settings=base, enqueuer=_Noop(), redis=redis)
        items = []
        for i in range(n):
            text = f"Заявка №{i}: проверка пропускной способности"
            counted = count(text)
            items.append(NewMessage(org_id, None, f"+7912{i:07d}", "technician", None,
                                    Rendered("bench", text, counted.encoding, counted.segments, ()), "kannel",
                                    f"bench:{i}"))
        ids = notifier.queue(items)  # stored; the jobs go out below, all at once
        before = len(kannel.received)
        start_at = time.perf_counter()
        enqueuer.enqueue(ids + ids[: n // 10])  # 10% of the jobs run twice: they must not send twice
        wait_for(lambda: len(kannel.received) - before >= n, timeout=300, step=0.02)
        elapsed = time.perf_counter() - start_at
        time.sleep(1.0)
        got = Counter(text for _s, to, text in kannel.received[before:] if to.startswith("+7912"))
        with c.engine.connect() as conn:
            statuses = Counter(conn.execute(sa.select(messages.c.status).where(messages.c.template == "bench"))
                               .scalars())
        return {"messages": n, "workers": args.workers, "outbox_msg_per_s": round(n / elapsed, 1),
                "bare_sendsms_msg_per_s": round(bare_rate, 1),
                "ratio_outbox_to_bare": round(n / elapsed / bare_rate, 2),
                "received": sum(got.values()), "duplicates": sum(v - 1 for v in got.values() if v > 1),
                "statuses": dict(statuses)}
    finally:
        stop(procs)
        kannel.stop()
        sink.httpd.shutdown()


class _Noop:
    def enqueue(self, ids):
        pass


def lateness(args, c, org_id, redis, logdir: Path) -> dict:
    n, window = args.reminders, args.window
    esc = EscalationService(c.uow)
    esc.set_track(org_id, SYSTEM, "acceptance", {"statuses": ["assigned"], "until": "accepted", "emergency": [],
                                                 "normal": [{"at": "assigned+30s", "remind": "assignee"}]})
    tech = c.registry.upsert_staff(org_id, SYSTEM, {"full_name": "Иванов Иван", "role": "technician",
                                                    "phone": "+79123456789"})
    env = hotline_env(c.settings, args.redis_url, provider="log", rate_per_second=100_000)
    procs = workers(c.settings, redis, args.workers, env, logdir)  # started before the requests are written
    start_at = c.clock() + timedelta(seconds=20)  # the first moment; the scheduler starts and wakes them before it
    rows = []
    for i in range(n):
        assigned_at = start_at + timedelta(seconds=window * i / n) - timedelta(seconds=30)
        rows.append({"org_id": org_id, "number": 100_000 + i, "channel": "api", "description": "Течёт кран",
                     "work_type": "water", "urgency": "normal", "status": "assigned", "assignee_id": tech.id,
                     "registered_at": assigned_at, "updated_at": assigned_at, "assigned_at": assigned_at,
                     "version": 1})
    with c.engine.begin() as conn:
        conn.execute(sa.insert(t.requests), rows)
        ids = list(conn.execute(sa.select(t.requests.c.id).where(t.requests.c.number >= 100_000)).scalars())
        now = c.clock()
        conn.execute(sa.insert(sms_wakeups), [{"request_id": i, "org_id": org_id, "due_at": now} for i in ids])
    procs.append(start("cron", env, logdir / "cron.log"))
    deadline = time.monotonic() + 20 + window + 120
    try:
        while time.monotonic() < deadline:
            with c.engine.connect() as conn:
                sent = conn.execute(sa.select(sa.func.count()).select_from(messages)
                                    .where(messages.c.template == "reminder_acceptance",
                                           messages.c.status == "sent")).scalar()
            if sent >= n:
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a process died; see {logdir}")
            time.sleep(0.5)
    finally:
        stop(procs)
    from rq import Queue

    failed = Queue(cron_queue_name(c.settings.queue_name), connection=redis).failed_job_registry.count + \
        Queue(c.settings.queue_name, connection=redis).failed_job_registry.count
    with c.engine.connect() as conn:
        log = t.escalation_log.c
        late = conn.execute(sa.select(messages.c.request_id, messages.c.sent_at, log.due_at, log.emitted_at,
                                      messages.c.created_at)
                            .join(t.escalation_log, log.request_id == messages.c.request_id)
                            .where(messages.c.template == "reminder_acceptance")).all()
        per_request = Counter(r.request_id for r in late)
    seconds = sorted((r.sent_at - r.due_at).total_seconds() for r in late if r.sent_at)
    stages = {name: round(sorted(x)[int(0.95 * (len(x) - 1))], 3) for name, x in (
        ("emitted", [(r.emitted_at - r.due_at).total_seconds() for r in late]),
        ("created", [(r.created_at - r.due_at).total_seconds() for r in late]),
        ("sent", seconds)) if x}
    full = time.perf_counter()
    esc.tick(c.clock())  # baseline: one full scan over the same open requests
    full_tick = time.perf_counter() - full
    p95 = seconds[int(0.95 * (len(seconds) - 1))] if seconds else None
    return {"reminders": n, "window_s": window, "workers": args.workers, "sent": len(seconds),
            "duplicates": sum(v - 1 for v in per_request.values() if v > 1), "failed_jobs": failed,
            "lateness_p50_s": round(statistics.median(seconds), 3) if seconds else None,
            "lateness_p95_s": round(p95, 3) if p95 is not None else None,
            "lateness_max_s": round(seconds[-1], 3) if seconds else None,
            "p95_by_stage_s": stages, "baseline_full_tick_s": round(full_tick, 3),
            "ratio_p95_to_full_tick": round(p95 / full_tick, 2) if p95 is not None and full_tick else None}


def main(argv=None) -> int:
    args = parse_args(argv)
    url = recreate(args)
    from redis import Redis

    redis = Redis.from_url(args.redis_url)
    logdir = Path(tempfile.mkdtemp(prefix="hotline-bench-sms-"))
    result = {}
    for part, measure in (("throughput", throughput), ("lateness", lateness)):
        settings = load_settings(environ={}, database_url=url, redis_url=args.redis_url, env="test",
                                 data_dir=str(logdir), queue_name=f"bench-sms-{os.getpid()}-{part}")
        c = bootstrap(settings, publisher=MemoryPublisher())
        try:
            org = c.registry.organisation_by_code("bench") if part != "throughput" else \
                c.registry.create_organisation("bench", "УК Бенчмарк", "Europe/Moscow")
            result[part] = measure(args, c, org.id, redis, logdir)
        finally:
            c.dispose()
    if not args.keep:
        drop(args)
    tp, lt = result["throughput"], result["lateness"]
    print(f"throughput to Kannel: {tp['outbox_msg_per_s']} msg/s through the outbox and {tp['workers']} rq workers, "
          f"bare sendsms {tp['bare_sendsms_msg_per_s']} msg/s, ratio {tp['ratio_outbox_to_bare']}; "
          f"received {tp['received']}/{tp['messages']}, duplicates {tp['duplicates']} "
          f"[{'ok' if tp['outbox_msg_per_s'] >= THROUGHPUT_TARGET else 'MISSED'} >= {THROUGHPUT_TARGET}]")
    print(f"reminders: {lt['sent']}/{lt['reminders']} sent, lateness p50 {lt['lateness_p50_s']} s, "
          f"p95 {lt['lateness_p95_s']} s, max {lt['lateness_max_s']} s, duplicates {lt['duplicates']}, "
          f"failed jobs {lt['failed_jobs']}; p95 by stage {lt['p95_by_stage_s']}; "
          f"baseline one full escalation tick {lt['baseline_full_tick_s']} s "
          f"[{'ok' if (lt['lateness_p95_s'] or 99) <= LATENESS_TARGET else 'MISSED'} p95 <= {LATENESS_TARGET}]")
    print(f"process logs: {logdir}")
    Path(args.results).mkdir(parents=True, exist_ok=True)
    (Path(args.results) / "sms.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
