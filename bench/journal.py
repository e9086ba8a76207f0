"""The journal at scale: fill PostgreSQL with N requests (1,000,000 by default) across 20 organisations and 2,000
buildings, then measure through the real web app over HTTP:

- p50/p95 latency of Monitor-style list queries (baseline: the same SQL on one bare psycopg connection, and the
  /api/v1/health round trip);
- create throughput with concurrent clients (baselines: the same rows as bare INSERTs over one connection, and the
  service layer called in-process).

Targets (issue 2): list p95 <= 50 ms at 1M rows; >= 500 creates/s. A missed target is reported, not an error; the
exit status is non-zero only when the run itself failed. Usage: ``python bench/journal.py [--requests 20000]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from journal_api.bootstrap import bootstrap  # noqa: E402
from journal_api.config import load_settings  # noqa: E402
from journal_api.service.uow import MemoryPublisher  # noqa: E402
from journal_api.storage.migrate import upgrade  # noqa: E402

import journal_fill as fill  # noqa: E402
import journal_work as work  # noqa: E402
from journal_trips import count_round_trips  # noqa: E402
from journal_compare import compare_creates, summary_lines  # noqa: E402
from journal_http import Client, Server, pick_server, stats  # noqa: E402

LIST_P95_TARGET_MS = 50.0
CREATES_TARGET = 500.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1_000_000, help="requests to load (default 1,000,000)")
    p.add_argument("--orgs", type=int, default=20)
    p.add_argument("--buildings", type=int, default=100, help="buildings per organisation")
    p.add_argument("--technicians", type=int, default=15, help="technicians per organisation")
    p.add_argument("--days", type=int, default=730, help="registrations are spread over this many days")
    p.add_argument("--db", default="hotline_bench", help="database to (re)create")
    p.add_argument("--pg-admin-url", default=os.environ.get(
        "HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--reuse", action="store_true", help="reuse a database kept by an earlier run (no fill)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9",
                   help="the server publishes its outbox here, to a queue of its own that is deleted afterwards")
    p.add_argument("--server", choices=("auto", "gunicorn", "hotline", "werkzeug"), default="auto")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn worker processes")
    p.add_argument("--threads", type=int, default=2, help="threads per worker (--server gunicorn only)")
    p.add_argument("--per-kind", type=int, default=300, help="timed list calls per query kind")
    p.add_argument("--warmup", type=int, default=200, help="untimed list calls first")
    p.add_argument("--skip-lists", action="store_true", help="measure creates only (quick iterations)")
    p.add_argument("--compare-rev", help="also measure creates against this git revision's code, taking turns "
                   "(before/after under the same background load)")
    p.add_argument("--compare-rounds", type=int, default=2)
    p.add_argument("--compare-seconds", type=float, default=10.0)
    p.add_argument("--create-seconds", type=float, default=20.0)
    p.add_argument("--create-threads", type=int, default=8, help="concurrent HTTP clients for creates")
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--results", default=str(HERE / "results"))
    return p.parse_args(argv)


def prepare_database(args, log) -> tuple[str, bool]:
    """(Re)create the database and migrate it. Returns its URL and whether it still needs filling."""
    admin_url = args.pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
    url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + args.db
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.db,)).fetchone()
        if exists and args.reuse:
            log(f"reusing database {args.db}")
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db}"')
            log(f"created database {args.db}")
    upgrade(url)
    return url, not (exists and args.reuse)


def drop_database(args) -> None:
    admin_url = args.pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')


def delete_queue(redis_url: str, name: str) -> None:
    from redis import Redis
    from rq import Queue

    conn = Redis.from_url(redis_url)
    queue = Queue(name, connection=conn)
    queue.delete(delete_jobs=True)
    conn.close()


def measure(args, url: str, c, fixtures, result: dict, log) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    rng = random.Random(args.seed)
    now = fill.utc_now()
    queue = f"hotline-bench-{uuid.uuid4().hex[:8]}"
    env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_REDIS_URL": args.redis_url, "HOTLINE_QUEUE_NAME": queue,
           "HOTLINE_DATA_DIR": c.settings.data_dir, "HOTLINE_ENV": "production"}
    server = Server(pick_server(args.server), env, Path(args.results) / "journal-server.log", args.workers,
                    args.threads)
    result["server"] = server.description
    log(f"server: {server.description}")
    samples = work.make_samples(fixtures, args.per_kind, rng, now, args.days)
    warmup = work.make_samples(fixtures, max(1, args.warmup // len(work.KINDS)), rng, now, args.days)
    try:
        with server:
            if not args.skip_lists:
                client = Client(server.host, server.port)
                log(f"list queries through the API: {len(samples)} timed after {len(warmup)} warm-up calls")
                api = work.run_api_lists(client, warmup + samples, warmup=len(warmup), log=log)
                log("the same queries as bare SQL")
                sql = work.run_sql_lists(dsn, warmup + samples, warmup=len(warmup))
                health = work.health_round_trips(client, 300)
                client.close()
                result["lists"] = list_report(api, sql, health)
                result["list_errors"] = api["errors"][:20]
            log(f"creates through the API: {args.create_threads} clients for {args.create_seconds:.0f} s")
            result["creates_api"] = work.run_api_creates(server, fixtures,
                                                         threads=args.create_threads,
                                                         seconds=args.create_seconds, seed=args.seed,
                                                         db=args.db)
        if args.compare_rev:
            log(f"creates, current code and {args.compare_rev} taking turns")
            result["compare"] = compare_creates(
                args.compare_rev, pick_server(args.server), env, Path(args.results) / "journal-server.log",
                workers=args.workers, threads=args.threads, fixtures=fixtures, clients=args.create_threads,
                seconds=args.compare_seconds, rounds=args.compare_rounds, seed=args.seed + 400, db=args.db, log=log)
    finally:
        delete_queue(args.redis_url, queue)
    log("create baselines: the service layer in-process, and bare SQL, one connection each")
    result["creates_service"] = work.run_service_creates(c, fixtures, seconds=args.baseline_seconds,
                                                         seed=args.seed + 100)
    result["creates_sql"] = work.run_raw_creates(dsn, fixtures, seconds=args.baseline_seconds, seed=args.seed + 200)
    log("round trips per create, counted in-process")
    result["round_trips"] = count_round_trips(url, args.redis_url, fixtures, seed=args.seed + 300)


def list_report(api: dict, sql: dict, health: list[float]) -> dict:
    kinds = {}
    for kind in work.KINDS:
        a, s = stats(api["timings"][kind]), stats(sql["timings"][kind])
        n_items = api["items"][kind]
        kinds[kind] = {"api": a, "sql": s, "avg_items": round(sum(n_items) / len(n_items), 1) if n_items else 0,
                       "ratio_p50": _ratio(a["p50_ms"], s["p50_ms"])}
    everything = [x for kind in work.KINDS for x in api["timings"][kind]]
    everything_sql = [x for kind in work.KINDS for x in sql["timings"][kind]]
    overall, overall_sql, h = stats(everything), stats(everything_sql), stats(health)
    return {"kinds": kinds, "overall": {"api": overall, "sql": overall_sql,
                                        "ratio_p50": _ratio(overall["p50_ms"], overall_sql["p50_ms"]),
                                        "ratio_p50_vs_health": _ratio(overall["p50_ms"], h["p50_ms"])},
            "health": h}


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


def summary(result: dict) -> str:
    lines = [f"\njournal benchmark: {result['requests']:,} requests, {result['orgs']} organisations, "
             f"{result['buildings']:,} buildings; server: {result.get('server')}",
             f"{result['cpus']} CPUs; load average at start {result['loadavg_at_start'][0]:.1f}, at end "
             f"{result['loadavg_at_end'][0]:.1f} (other work on this machine skews the figures)"]
    lists = result.get("lists")
    if lists:
        lines.append(f"\n{'list query':<12} {'API p50':>8} {'p95':>8} {'max':>8} | {'SQL p50':>8} {'p95':>8} | "
                     f"{'API/SQL':>7} {'items':>6}")
        rows = [(k, v) for k, v in lists["kinds"].items()] + [("ALL", {**lists["overall"], "avg_items": ""})]
        for kind, v in rows:
            a, s = v["api"], v["sql"]
            lines.append(f"{kind:<12} {a['p50_ms']:>8} {a['p95_ms']:>8} {a['max_ms']:>8} | {s['p50_ms']:>8} "
                         f"{s['p95_ms']:>8} | {str(v['ratio_p50']) + 'x':>7} {v['avg_items']:>6}")
        h = lists["health"]
        lines.append(f"(ms; {lists['overall']['api']['n']} timed calls; /api/v1/health round trip p50 "
                     f"{h['p50_ms']} ms, p95 {h['p95_ms']} ms; ALL API p50 = "
                     f"{lists['overall']['ratio_p50_vs_health']}x health)")
    ca, cs, cq = result.get("creates_api"), result.get("creates_service"), result.get("creates_sql")
    if ca and cs and cq:
        lines.append(f"\ncreates: API {ca['per_s']}/s ({ca['created']} in {ca['seconds']} s, "
                     f"{result['create_threads']} clients, p50 {ca['latency']['p50_ms']} ms, p95 "
                     f"{ca['latency']['p95_ms']} ms, {ca['error_count']} errors)")
        lines.append(f"         CPU ms/create: server {ca['server_cpu_ms_per_create']}, PostgreSQL "
                     f"{ca.get('postgres_cpu_ms_per_create')}, Redis {ca.get('redis_cpu_ms_per_create')}, client "
                     f"{ca['client_cpu_ms_per_create']}; machine {ca['machine_busy_pct']}% busy, "
                     f"{ca.get('machine_cpu_ms_per_create')} ms CPU/create by everything running on it")
        lines.append(f"         service layer in-process, 1 thread: {cs['per_s']}/s; bare SQL, 1 connection: "
                     f"{cq['per_s']}/s; API/SQL = {_ratio(ca['per_s'], cq['per_s'])}x")
    trips = result.get("round_trips")
    if trips:
        a, sv = trips["api_create"], trips["service_register"]
        lines.append(f"         round trips per create: API {a['postgresql']} PostgreSQL + {a['redis']} Redis (auth "
                     f"included); service register {sv['postgresql']} + {sv['redis']}")
        lines.append(f"         CPU per create in-process: API {a['cpu_ms']} ms (Flask test client), service register "
                     f"{sv['cpu_ms']} ms")
    if result.get("compare"):
        lines += summary_lines(result["compare"])
    t = result.get("targets", {})
    for name, verdict in t.items():
        lines.append(f"target {name}: {verdict}")
    return "\n".join(lines)


def verdicts(result: dict) -> dict:
    out = {}
    lists = result.get("lists")
    if lists:
        p95 = lists["overall"]["api"]["p95_ms"]
        worst = max(lists["kinds"].items(), key=lambda kv: kv[1]["api"]["p95_ms"] or 0)
        out["list p95 <= 50 ms"] = (f"{'MET' if p95 <= LIST_P95_TARGET_MS else 'MISSED'} (all kinds {p95} ms; "
                                    f"worst kind {worst[0]} {worst[1]['api']['p95_ms']} ms)")
    if result.get("creates_api"):
        rate = result["creates_api"]["per_s"]
        out[">= 500 creates/s"] = f"{'MET' if rate >= CREATES_TARGET else 'MISSED'} ({rate}/s)"
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)  # noqa: E731
    Path(args.results).mkdir(parents=True, exist_ok=True)
    result = {"requests": args.requests, "orgs": args.orgs, "buildings": args.orgs * args.buildings,
              "create_threads": args.create_threads, "cpus": os.cpu_count(), "started": fill.utc_now().isoformat(),
              "loadavg_at_start": os.getloadavg()}
    failed = None
    url, needs_fill = prepare_database(args, log)
    data_dir = tempfile.mkdtemp(prefix="hotline-bench-")
    c = bootstrap(load_settings(environ={}, database_url=url, data_dir=data_dir, env="production"),
                  publisher=MemoryPublisher())
    try:
        rng = random.Random(args.seed)
        if needs_fill:
            t0 = time.perf_counter()
            fixtures = fill.create_registry(c, args.orgs, args.buildings, args.technicians, rng)
            log(f"registry through the service layer: {len(fixtures)} organisations in "
                f"{time.perf_counter() - t0:.1f} s")
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            result["fill"] = fill.copy_requests(dsn, fixtures, args.requests, fill.utc_now(), args.days, args.seed,
                                                log=log)
            result["fill"]["total_s"] = round(time.perf_counter() - t0, 1)
        else:
            fixtures = fill.load_registry(c)
            result["requests"] = work.count_requests(c)
            result["orgs"], result["buildings"] = len(fixtures), sum(len(fx.buildings) for fx in fixtures)
        measure(args, url, c, fixtures, result, log)
        problems = result.get("list_errors", []) + result["creates_api"]["errors"] + \
            result.get("compare", {}).get("errors", [])
        if problems:
            failed = f"{len(problems)} API calls failed, first: {problems[0]}"
    except Exception as exc:  # the run failed: report and exit non-zero
        failed = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        c.dispose()
        if not args.keep:
            drop_database(args)
        result["failed"] = failed
        result["loadavg_at_end"] = os.getloadavg()
        result["targets"] = verdicts(result)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(args.results) / f"journal-{stamp}.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        print(summary(result))
        print(f"\nresult: {path}" + (f"\nRUN FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
