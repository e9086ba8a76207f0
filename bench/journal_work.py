"""The measured work: Monitor-style list queries (through the API and as bare SQL) and request creation (through
the API, through the service layer in-process, and as bare SQL)."""
from __future__ import annotations

import json
import os
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import urlencode

import psycopg
import sqlalchemy as sa

from journal_api.bootstrap import Container
from journal_api.domain.status import OPEN_STATUSES
from journal_api.service.queries import RequestFilter, build_list_query, building_ids_query
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t

from journal_fill import WORK, CHANNEL_MIX, OrgFixture, RowMaker, _mix, _phone, describe
from journal_http import (Client, RawClient, cpu_delta, group_cpu_seconds, machine_busy, postgres_cpu, raw_request,
                          redis_cpu, stats)

OPEN = sorted(s.value for s in OPEN_STATUSES)
KINDS = ("all", "open", "work_type", "building", "complex", "city", "assignee", "overdue", "period", "text",
         "page2")


def list_params(kind: str, fx: OrgFixture, rng: random.Random, now: datetime, days: int) -> dict:
    """One Monitor query of the given kind for this organisation (page2 gets its cursor later)."""
    if kind in ("all", "page2"):
        return {}
    if kind == "open":
        return {"status": OPEN}
    if kind == "work_type":
        return {"work_type": [rng.choices(RowMaker.WORK_TYPES, RowMaker.WORK_WEIGHTS)[0]]}
    if kind == "building":
        return {"building_id": rng.choice(fx.buildings).id}
    if kind == "complex":
        return {"complex_id": rng.choice(fx.complexes)}
    if kind == "city":
        return {"city_id": rng.choice(fx.cities)}
    if kind == "assignee":
        return {"assignee_id": rng.choice(fx.technicians)}
    if kind == "overdue":
        return {"overdue": True}
    if kind == "period":
        start = now - timedelta(days=rng.uniform(31, days))
        return {"registered_from": start, "registered_to": start + timedelta(days=30)}
    if kind == "text":
        return {"q": "протечка"}
    raise ValueError(kind)


def query_string(params: dict, cursor: str | None = None) -> str:
    flat = {}
    for key, value in params.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        flat[key] = value
    if cursor:
        flat["cursor"] = cursor
    return "/api/v1/requests" + ("?" + urlencode(flat) if flat else "")


def make_samples(fixtures, per_kind: int, rng: random.Random, now: datetime, days: int) -> list[dict]:
    samples = [{"kind": kind, "fx": rng.choice(fixtures), "cursor": None}
               for kind in KINDS for _ in range(per_kind)]
    for s in samples:
        s["params"] = list_params(s["kind"], s["fx"], rng, now, days)
    rng.shuffle(samples)
    return samples


def run_api_lists(client: Client, samples: list[dict], *, warmup: int, log=print) -> dict:
    """Time each sample through the API, one at a time. Second pages first fetch page one (untimed)."""
    timings = {kind: [] for kind in KINDS}
    items = {kind: [] for kind in KINDS}
    errors = []
    for i, s in enumerate(samples):
        if s["kind"] == "page2" and s["cursor"] is None:
            status, raw, _ = client.call("GET", query_string(s["params"]), s["fx"].manager_token)
            s["cursor"] = json.loads(raw)["next_cursor"] if status == 200 else None
        status, raw, seconds = client.call("GET", query_string(s["params"], s["cursor"]), s["fx"].manager_token)
        if status != 200:
            errors.append(f"{s['kind']}: HTTP {status} {raw[:300]!r}")
            continue
        if i >= warmup:
            timings[s["kind"]].append(seconds)
            items[s["kind"]].append(len(json.loads(raw)["items"]))
    log(f"  {len(samples) - warmup} timed list calls, {len(errors)} errors")
    return {"timings": timings, "items": items, "errors": errors}


def run_sql_lists(dsn: str, samples: list[dict], *, warmup: int) -> dict:
    """The same queries' SQL (as the service builds it) on one psycopg connection: execute and fetch (compiling
    the statements is left out of the timing)."""
    from journal_api.storage.db import make_engine

    dialect = make_engine("postgresql+psycopg://localhost/x").dialect
    timings = {kind: [] for kind in KINDS}

    def compiled(stmt):
        done = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        return str(done), done.params

    with psycopg.connect(dsn, autocommit=True) as conn:
        for i, s in enumerate(samples):
            f, took = RequestFilter(**s["params"]), 0.0
            places, ids = building_ids_query(s["fx"].id, f), None
            if places is not None:  # the service's first step for a complex or city
                sql, params = compiled(places)
                started = time.perf_counter()
                ids = [row[0] for row in conn.execute(sql, params)]
                took = time.perf_counter() - started
            sql, params = compiled(build_list_query(s["fx"].id, f, now=datetime.now(timezone.utc),
                                                    only_assignee=None, cursor=s["cursor"], limit=50,
                                                    building_ids=ids))
            started = time.perf_counter()
            conn.execute(sql, params).fetchall()
            if i >= warmup:
                timings[s["kind"]].append(took + time.perf_counter() - started)
    return {"timings": timings}


def health_round_trips(client: Client, n: int) -> list[float]:
    return [client.call("GET", "/api/v1/health")[2] for _ in range(n)]


# -- creation ------------------------------------------------------------------------------------------------------
def new_request(rng: random.Random, fx: OrgFixture) -> dict:
    work_type = rng.choices(RowMaker.WORK_TYPES, RowMaker.WORK_WEIGHTS)[0]
    place = rng.choice(fx.buildings)
    return {"description": describe(rng, work_type), "work_type": work_type,
            "urgency": "emergency" if rng.random() < WORK[work_type][1] else "normal",
            "channel": _mix(rng, CHANNEL_MIX), "caller_phone": _phone(rng), "building_id": place.id,
            "apartment": rng.randrange(1, place.apartments + 1)}


PREBUILT_PER_THREAD = 4000  # requests each client thread encodes before the timed window (cycled if it runs out)


def run_api_creates(server, fixtures, *, threads: int, seconds: float, seed: int, db: str) -> dict:
    """POST /api/v1/requests from several client threads across the organisations for a fixed time. Also reports
    the CPU per create of the server, of this client, of PostgreSQL (the backends of database ``db`` and the
    shared processes) and of Redis, and how busy the whole machine was.

    The load generator shares the machine's cores with the server, so it is kept cheap: every request (random
    organisation, body and token, as before) is generated and encoded before the timed window, and a raw-socket
    client sends it and reads the status and body (journal_http.RawClient). Its CPU is measured as this process's
    CPU time during the window (the client threads are the only ones working then) and reported per create."""
    host, port = server.host, server.port
    lock = threading.Lock()
    ok, failed, latencies = [0], [], []
    start_gate = threading.Barrier(threads + 1)
    prebuilt = []
    for k in range(threads):
        rng = random.Random(seed + k)
        batch = []
        for _ in range(PREBUILT_PER_THREAD):
            fx = rng.choice(fixtures)
            batch.append(raw_request("POST", "/api/v1/requests", host, port, fx.dispatcher_token,
                                     new_request(rng, fx)))
        prebuilt.append(batch)

    def worker(k: int) -> None:
        client, batch = RawClient(host, port), prebuilt[k]
        local, local_ok, local_failed, i = [], 0, [], 0
        start_gate.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            status, raw, took = client.send(batch[i % len(batch)])
            i += 1
            if status == 201:
                local_ok += 1
                local.append(took)
            else:
                local_failed.append(f"HTTP {status} {raw[:300]!r}")
        client.close()
        with lock:
            ok[0] += local_ok
            failed.extend(local_failed)
            latencies.extend(local)

    pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    for th in pool:
        th.start()
    start_gate.wait()
    began, cpu = time.perf_counter(), time.process_time()
    server_cpu, (busy, total) = group_cpu_seconds(server.proc.pid), machine_busy()
    pg_before, redis_before = postgres_cpu(db), redis_cpu()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - began
    client_cpu = time.process_time() - cpu
    server_cpu = group_cpu_seconds(server.proc.pid) - server_cpu
    pg_spent, redis_spent = cpu_delta(pg_before, postgres_cpu(db)), cpu_delta(redis_before, redis_cpu())
    busy2, total2 = machine_busy()
    n = max(ok[0], 1)
    return {"created": ok[0], "seconds": round(elapsed, 2), "per_s": round(ok[0] / elapsed, 1),
            "latency": stats(latencies), "errors": failed[:20], "error_count": len(failed),
            "server_cpu_ms_per_create": round(server_cpu * 1000 / n, 2),
            "client_cpu_ms_per_create": round(client_cpu * 1000 / n, 2),
            "postgres_cpu_ms_per_create": round(pg_spent * 1000 / n, 2),
            "redis_cpu_ms_per_create": round(redis_spent * 1000 / n, 2),
            "machine_busy_pct": round(100 * (busy2 - busy) / max(total2 - total, 1), 1),
            "machine_cpu_ms_per_create": round((busy2 - busy) / os.sysconf("SC_CLK_TCK") * 1000 / n, 2)}


def run_service_creates(c: Container, fixtures, *, seconds: float, seed: int) -> dict:
    """The service layer called directly, one thread (no HTTP, no auth, no JSON; events to memory)."""
    from journal_api.domain.events import Actor

    rng, done = random.Random(seed), 0
    actors = {fx.id: Actor(kind="staff", role="dispatcher", id=fx.dispatcher_id, name="bench") for fx in fixtures}
    end = time.perf_counter() + seconds
    began = time.perf_counter()
    while time.perf_counter() < end:
        fx = rng.choice(fixtures)
        c.requests.register(fx.id, actors[fx.id], NewRequest(**new_request(rng, fx)))
        done += 1
    elapsed = time.perf_counter() - began
    return {"created": done, "seconds": round(elapsed, 2), "per_s": round(done / elapsed, 1)}


def _raw_create(cur, rng: random.Random, fx: OrgFixture) -> None:
    """What the service writes for one registration, as bare SQL: counter, request, history entry, outbox row."""
    body, now = new_request(rng, fx), datetime.now(timezone.utc)
    d = RowMaker.POLICY.deadlines_for(SimpleNamespace(urgency=body["urgency"], registered_at=now), fx.id, now)
    number = cur.execute("UPDATE counters SET value = value + 1 WHERE org_id = %s AND name = 'request' "
                         "RETURNING value", (fx.id,)).fetchone()[0]
    request_id = cur.execute(
        "INSERT INTO requests (org_id, number, channel, caller_phone, building_id, apartment, description, "
        "work_type, urgency, status, registered_at, updated_at, localisation_due_at, repair_due_at, due_at, "
        "deadline_rule, localisation_clause, repair_clause, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "'new', %s, %s, %s, %s, %s, %s, %s, %s, 1) RETURNING id",
        (fx.id, number, body["channel"], body["caller_phone"], body["building_id"], body["apartment"],
         body["description"], body["work_type"], body["urgency"], now, now, d.localisation_due_at,
         d.repair_due_at, d.localisation_due_at, d.rule, d.localisation_clause, d.repair_clause)).fetchone()[0]
    cur.execute("INSERT INTO request_events (org_id, request_id, at, actor_kind, actor_role, actor_id, actor_name, "
                "channel, kind, field, new_value) VALUES (%s, %s, %s, 'staff', 'dispatcher', %s, 'bench', %s, "
                "'created', 'number', %s)", (fx.id, request_id, now, fx.dispatcher_id, body["channel"], str(number)))
    cur.execute("INSERT INTO outbox (org_id, name, request_id, payload, created_at) VALUES (%s, "
                "'request.registered', %s, %s, %s)",
                (fx.id, request_id, json.dumps({"number": number, "work_type": body["work_type"]}), now))


def run_raw_creates(dsn: str, fixtures, *, seconds: float, seed: int) -> dict:
    """The floor: the same rows as bare INSERTs, one transaction each, over one psycopg connection."""
    rng, done = random.Random(seed), 0
    with psycopg.connect(dsn) as conn:
        end = time.perf_counter() + seconds
        began = time.perf_counter()
        while time.perf_counter() < end:
            with conn.transaction(), conn.cursor() as cur:
                _raw_create(cur, rng, rng.choice(fixtures))
            done += 1
        elapsed = time.perf_counter() - began
    return {"created": done, "seconds": round(elapsed, 2), "per_s": round(done / elapsed, 1)}


def count_requests(c: Container) -> int:
    with c.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.requests)).scalar_one()
