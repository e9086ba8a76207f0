"""Automatic assignment at scale: one organisation with 2,000 technicians, 1,000 buildings, 4 work types with three
responsible technicians each, a week of rotas and 10,000 open requests on PostgreSQL; then the latency of
AssignmentService.auto_assign per request (p50/p95/max), against a baseline measured in the same run: the bare
candidate query (responsibilities joined with staff) on the same session.

Target (issue 3): p95 <= 20 ms per request. A missed target is printed as MISSED; the exit status is non-zero only
when the run itself failed. Usage: ``python bench/assign.py [--technicians 2000 --requests 10000 --samples 1000]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

import benchdb
from journal_api.bootstrap import bootstrap
from journal_api.config import load_settings
from journal_api.domain import schedule as sch
from journal_api.domain.events import Actor
from journal_api.domain.request import Request
from journal_api.service.uow import MemoryPublisher
from journal_api.storage import tables as t

HERE = Path(__file__).resolve().parent
P95_TARGET_MS = 20.0
WORK_TYPES = ("water", "heating", "electricity", "sewerage")
SYSTEM = Actor.system("bench")
WEEK = date(2026, 3, 9)  # Monday
NOW = datetime(2026, 3, 11, 12, tzinfo=timezone.utc)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--technicians", type=int, default=2000)
    p.add_argument("--buildings", type=int, default=1000)
    p.add_argument("--requests", type=int, default=10_000, help="open requests already in the journal")
    p.add_argument("--samples", type=int, default=1000, help="timed auto_assign calls")
    p.add_argument("--db", default="hotline_bench_assign", help="database to (re)create")
    p.add_argument("--pg-admin-url", default=os.environ.get(
        "HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--results", default=str(HERE / "results"))
    return p.parse_args(argv)


def recreate(args) -> str:
    return benchdb.recreate(args.pg_admin_url, args.db)


def drop(args) -> None:
    benchdb.drop(args.pg_admin_url, args.db)


def fill(c, args, rnd: random.Random) -> int:
    """The organisation through the service layer; the bulk (staff, places, rotas, requests) as plain inserts."""
    org = c.registry.create_organisation("bench", "УК Бенч", "Europe/Moscow")
    first = c.registry.upsert_building(org.id, SYSTEM, {"building_id": "B-0", "city": "Москва", "street": "ул. Ленина",
                                                        "house": "1", "entrances": 4, "floors": 9, "apartments": 144})
    with c.engine.begin() as conn:
        staff_ids = conn.execute(sa.insert(t.staff).returning(t.staff.c.id), [
            {"org_id": org.id, "full_name": f"Техник{i:04d} Иван Петрович", "role": "technician",
             "phone": f"+7912{i:07d}", "active": True,
             "last_assigned_at": NOW - timedelta(minutes=rnd.randint(0, 5000))}
            for i in range(args.technicians)]).scalars().all()
        building_ids = [first.id] + conn.execute(sa.insert(t.buildings).returning(t.buildings.c.id), [
            {"org_id": org.id, "code": f"B-{b}", "city_id": first.city_id, "street": "ул. Ленина",
             "house": str(b + 1), "entrances": 4, "floors": 9, "apartments": 144}
            for b in range(1, args.buildings)]).scalars().all()
        responsible = {}
        rows = []
        for b in building_ids:
            for work_type in WORK_TYPES:
                people = rnd.sample(staff_ids, 3)
                responsible[(b, work_type)] = people
                rows += [{"org_id": org.id, "building_id": b, "work_type": work_type, "staff_id": s,
                          "priority": p} for p, s in enumerate(people, start=1)]
        conn.execute(sa.insert(t.responsibilities), rows)
        conn.execute(sa.insert(t.shifts), list(_rotas(org.id, staff_ids, c.schedules.calendar())))
        conn.execute(sa.insert(t.absences), [
            {"org_id": org.id, "staff_id": s, "starts_at": NOW - timedelta(days=2), "ends_at": NOW + timedelta(days=9),
             "kind": rnd.choice(("vacation", "sick_leave"))} for s in rnd.sample(staff_ids, len(staff_ids) // 20)])
        requests = []
        for n in range(1, args.requests + 1):
            b, work_type = rnd.choice(building_ids), rnd.choice(WORK_TYPES)
            assigned = rnd.random() < 0.8
            at = NOW - timedelta(minutes=rnd.randint(1, 3 * 24 * 60))
            requests.append({
                "org_id": org.id, "number": n, "channel": "phone", "description": "Течёт кран", "building_id": b,
                "work_type": work_type, "urgency": "emergency" if rnd.random() < 0.2 else "normal",
                "status": "assigned" if assigned else "new",
                "assignee_id": rnd.choice(responsible[(b, work_type)]) if assigned else None,
                "registered_at": at, "updated_at": at, "due_at": at + timedelta(days=rnd.randint(1, 8)),
                "repair_due_at": at + timedelta(days=8), "version": 1})
        conn.execute(sa.insert(t.requests), requests)
        conn.execute(sa.update(t.counters).where(t.counters.c.org_id == org.id).values(value=args.requests))
    with c.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return org.id


def _rotas(org_id: int, staff_ids: list[int], calendar):
    patterns = [lambda i: sch.one_day_in_four(WEEK - timedelta(days=i % 4)),
                lambda i: sch.one_day_in_three(WEEK - timedelta(days=i % 3)),
                lambda i: sch.day_shift(), lambda i: sch.on_call_at_home()]
    for i, staff_id in enumerate(staff_ids):
        for slot in sch.generate(patterns[i % 4](i), staff_id, WEEK - timedelta(days=1), WEEK + timedelta(days=7),
                                 "Europe/Moscow", is_working_day=calendar.is_working_day):
            yield {"org_id": org_id, "staff_id": staff_id, "starts_at": slot.starts_at, "ends_at": slot.ends_at,
                   "kind": slot.kind}


def measure(c, org_id: int, args, rnd: random.Random) -> dict:
    numbers = rnd.sample(range(1, args.requests + 1), min(args.samples, args.requests))
    assign_ms, base_ms, outcomes = [], [], {}
    s, p = t.staff.c, t.responsibilities.c
    for number in numbers:
        with c.uow() as uow:
            request = uow.session.scalars(sa.select(Request).where(
                t.requests.c.org_id == org_id, t.requests.c.number == number)).unique().one()
            started = time.perf_counter()
            uow.session.execute(sa.select(s.id, s.full_name, s.last_assigned_at, p.priority)
                                .join_from(t.responsibilities, t.staff, p.staff_id == s.id)
                                .where(p.org_id == org_id, p.building_id == request.building_id,
                                       p.work_type == request.work_type, s.active.is_(True),
                                       s.role == "technician")).all()
            base_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            decision = c.assignment.auto_assign(uow, org_id, request, NOW)
            assign_ms.append((time.perf_counter() - started) * 1000)
            outcomes[decision.code] = outcomes.get(decision.code, 0) + 1
            # no commit: every sample sees the same journal
    return {"auto_assign_ms": _stats(assign_ms), "baseline_candidate_sql_ms": _stats(base_ms),
            "ratio_p50": round(statistics.median(assign_ms) / statistics.median(base_ms), 1),
            "outcomes": outcomes}


def _stats(values: list[float]) -> dict:
    values = sorted(values)
    return {"p50": round(values[len(values) // 2], 2), "p95": round(values[int(len(values) * 0.95) - 1], 2),
            "max": round(values[-1], 2), "n": len(values)}


def main(argv=None) -> int:
    args = parse_args(argv)
    rnd = random.Random(args.seed)
    url = recreate(args)
    settings = load_settings(environ={}, database_url=url, data_dir=tempfile.mkdtemp(prefix="hotline-bench-"),
                             env="test")
    c = bootstrap(settings, publisher=MemoryPublisher(), clock=lambda: NOW)
    try:
        started = time.perf_counter()
        org_id = fill(c, args, rnd)
        print(f"filled {args.technicians} technicians, {args.buildings} buildings, {args.requests} requests "
              f"in {time.perf_counter() - started:.1f} s")
        result = measure(c, org_id, args, rnd)
    finally:
        c.dispose()
        if not args.keep:
            drop(args)
    a, b = result["auto_assign_ms"], result["baseline_candidate_sql_ms"]
    verdict = "ok" if a["p95"] <= P95_TARGET_MS else "MISSED"
    print(f"auto_assign per request: p50 {a['p50']} ms, p95 {a['p95']} ms, max {a['max']} ms (n={a['n']}); "
          f"target p95 <= {P95_TARGET_MS} ms: {verdict}")
    print(f"baseline (bare candidate SQL): p50 {b['p50']} ms, p95 {b['p95']} ms; ratio p50 {result['ratio_p50']}x")
    print(f"outcomes: {result['outcomes']}")
    Path(args.results).mkdir(parents=True, exist_ok=True)
    out = Path(args.results) / f"assign-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args), **result}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
