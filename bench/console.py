"""The console's Monitor and analytics pages at 1M requests.

Fills a PostgreSQL database of its own (``hotline_bench_console``) with N requests (1,000,000 by default) in ONE
organisation (the hardest case for pages that aggregate one organisation's data) by COPY, reusing
bench/journal_fill.py, and one inbound call per phone request by INSERT..SELECT (answer waits from seconds to
10 minutes, some missed with a callback task). Then it signs a dispatcher in and times each page in-process with the
Flask test client (server time: routing, queries, template rendering; no network). The pages are read by a manager
(the analytics are managers' and admins').

Baselines measured in the same run: ``/api/v1/health`` through the same client (the app's floor), and the bare SQL
count of the open requests (the floor of any Monitor). Target (issue 7): p95 <= 300 ms for the Monitor and the
analytics, in the steady state (the first view of each page is reported apart: the analytics' first view of a
period computes and keeps its days' figures). The machine may be shared with other work: the figures are noisy,
the load average is printed.
Usage: ``python bench/console.py [--requests 200000] [--keep] [--reuse]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from journal_api.app import create_app  # noqa: E402
from journal_api.bootstrap import bootstrap  # noqa: E402
from journal_api.config import load_settings  # noqa: E402
from journal_api.service.console_auth import ConsoleAuth  # noqa: E402
from journal_api.service.uow import MemoryPublisher  # noqa: E402
from journal_api.storage.migrate import upgrade  # noqa: E402

import journal_fill as fill  # noqa: E402

TARGET_MS = 300.0
PASSWORD = "bench-password"

CALLS_SQL = """
INSERT INTO calls (org_id, direction, from_number, to_number, arrived_at, answered_at, ended_at, status,
                   request_id, callback_reason, callback_due_at)
SELECT r.org_id, 'in', r.caller_phone, '+74950000000',
       r.registered_at - make_interval(secs => w.wait + 60),
       CASE WHEN w.missed THEN NULL ELSE r.registered_at - interval '60 seconds' END,
       r.registered_at + interval '3 minutes',
       CASE WHEN w.missed THEN 'missed' ELSE 'answered' END,
       CASE WHEN w.missed THEN NULL ELSE r.id END,
       CASE WHEN w.missed THEN 'missed' END,
       CASE WHEN w.missed THEN r.registered_at + interval '10 minutes' END
FROM requests r
CROSS JOIN LATERAL (SELECT (random() * random() * 600)::float AS wait, random() < 0.03 AS missed
                    WHERE r.id IS NOT NULL) w
WHERE r.channel = 'phone'
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--buildings", type=int, default=400)
    p.add_argument("--technicians", type=int, default=40)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--db", default="hotline_bench_console")
    p.add_argument("--pg-admin-url", default=os.environ.get(
        "HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--reuse", action="store_true", help="reuse a database kept by an earlier run (no fill)")
    p.add_argument("--runs", type=int, default=30, help="timed requests per page")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--results", default=str(HERE / "results"))
    return p.parse_args(argv)


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def prepare(args, log) -> tuple[str, bool]:
    admin = _dsn(args.pg_admin_url)
    url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + args.db
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.db,)).fetchone()
        if exists and args.reuse:
            log(f"reusing database {args.db}")
            return url, False
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    upgrade(url)
    return url, True


def fill_database(args, c, url: str, log) -> dict:
    t0 = time.perf_counter()
    fixtures = fill.create_registry(c, 1, args.buildings, args.technicians, random.Random(args.seed))
    out = fill.copy_requests(_dsn(url), fixtures, args.requests, fill.utc_now(), args.days, args.seed, log=log)
    t1 = time.perf_counter()
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        calls = conn.execute(CALLS_SQL).rowcount
        conn.execute("VACUUM (ANALYZE) calls")
    out["calls"] = calls
    out["calls_s"] = round(time.perf_counter() - t1, 1)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    log(f"{calls:,} calls in {out['calls_s']} s")
    return out


def _signed_in_client(app, c):
    from journal_api.domain.events import Actor

    with psycopg.connect(_dsn(c.settings.database_url), autocommit=True) as conn:
        org_id, org_code = conn.execute("SELECT id, code FROM organisations ORDER BY id LIMIT 1").fetchone()
    staff = c.registry.upsert_staff(org_id, Actor.system("bench"), {
        "external_id": "bench-manager", "full_name": "Руководитель Бенч", "role": "manager",
        "phone": "+79120000000"})
    ConsoleAuth(c.uow, c.clock).set_password(org_code, staff.id, PASSWORD, login="bench")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"org": org_code, "login": "bench", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client


def time_page(client, path: str, runs: int, warmup: int) -> dict:
    t0 = time.perf_counter()
    assert client.get(path).status_code == 200, path
    first = (time.perf_counter() - t0) * 1000  # analytics: the kept figures were emptied first (cold)
    for _ in range(warmup - 1):
        assert client.get(path).status_code == 200, path
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    return {"first_ms": round(first, 1), "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
            "max_ms": round(samples[-1], 1), "runs": runs}


def sql_baseline(url: str, runs: int) -> dict:
    with psycopg.connect(_dsn(url)) as conn:
        org_id = conn.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]
        samples = []
        for _ in range(runs + 3):
            t0 = time.perf_counter()
            conn.execute("SELECT count(*) FROM requests WHERE org_id = %s AND status IN "
                         "('accepted', 'assigned', 'impossible', 'new', 'postponed')", (org_id,)).fetchone()
            samples.append((time.perf_counter() - t0) * 1000)
    samples = sorted(samples[3:])
    return {"p50_ms": round(statistics.median(samples), 2), "p95_ms": round(samples[int(len(samples) * 0.95)], 2)}


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)  # noqa: E731
    Path(args.results).mkdir(parents=True, exist_ok=True)
    result = {"requests": args.requests, "orgs": 1, "cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()}
    url, needs_fill = prepare(args, log)
    c = bootstrap(load_settings(environ={}, database_url=url, data_dir=tempfile.mkdtemp(prefix="hotline-bench-"),
                                env="production"), publisher=MemoryPublisher())
    try:
        if needs_fill:
            result["fill"] = fill_database(args, c, url, log)
        with psycopg.connect(_dsn(url), autocommit=True) as conn:
            conn.execute("DELETE FROM console_analytics_days")  # measure the analytics' first views cold
        app = create_app(c)
        client = _signed_in_client(app, c)
        with psycopg.connect(_dsn(url)) as conn:
            org_id = conn.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]
            result["requests"] = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
            result["open"] = conn.execute("SELECT count(*) FROM requests WHERE status IN ('accepted', 'assigned', "
                                          "'impossible', 'new', 'postponed')").fetchone()[0]
            city = conn.execute("SELECT id FROM cities WHERE org_id = %s ORDER BY id LIMIT 1", (org_id,)).fetchone()[0]
            tech = conn.execute("SELECT id FROM staff WHERE org_id = %s AND role = 'technician' ORDER BY id LIMIT 1",
                                (org_id,)).fetchone()[0]
        today = fill.utc_now().date()
        year = (today - timedelta(days=364)).isoformat()
        pages = {
            "health (baseline)": "/api/v1/health",
            "monitor": "/monitor",
            "monitor, one city": f"/monitor?city={city}",
            "monitor, water, last 90 days": f"/monitor?work_type=water&from={(today - timedelta(days=89))}",
            "monitor, one executor": f"/monitor?assignee={tech}",
            "analytics, 30 days (default)": "/analytics",
            "analytics, 7 days": f"/analytics?from={today - timedelta(days=6)}&to={today}",
            "analytics, 365 days": f"/analytics?from={year}&to={today}",
            "journal, first page": "/journal",
            "journal, overdue": "/journal?overdue=1",
            "board": "/board",
        }
        result["pages"] = {}
        for name, path in pages.items():
            result["pages"][name] = time_page(client, path, args.runs, args.warmup)
            fig = result["pages"][name]
            log(f"{name:30s} p50 {fig['p50_ms']:7.1f} ms  p95 {fig['p95_ms']:7.1f} ms  max {fig['max_ms']:7.1f} ms"
                f"  (first view {fig['first_ms']:.0f} ms)")
        result["sql_open_count"] = sql_baseline(url, args.runs)
        floor = result["pages"]["health (baseline)"]["p50_ms"]
        log(f"bare SQL count of open requests: p50 {result['sql_open_count']['p50_ms']} ms")
        for name, figures in result["pages"].items():
            figures["ratio_to_health_p50"] = round(figures["p50_ms"] / floor, 1) if floor else None
        checked = {k: v for k, v in result["pages"].items() if k.startswith(("monitor", "analytics"))}
        result["target"] = {"p95_ms": TARGET_MS, "met": all(v["p95_ms"] <= TARGET_MS for v in checked.values()),
                            "worst": max(checked.items(), key=lambda kv: kv[1]["p95_ms"])[0]}
        log(f"target p95 <= {TARGET_MS:.0f} ms for Monitor and analytics: "
            f"{'met' if result['target']['met'] else 'MISSED'} (worst: {result['target']['worst']})")
    finally:
        c.dispose()
        result["loadavg_at_end"] = os.getloadavg()
        if not args.keep:
            with psycopg.connect(_dsn(args.pg_admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        out = Path(args.results) / f"console-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
