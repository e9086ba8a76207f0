"""Round trips per create, counted rather than guessed, and where the server's CPU goes.

One ``POST /api/v1/requests`` through the app in-process (Flask's test client: token auth, JSON, the production
wiring with the rq publisher) and one ``RequestService.register``. PostgreSQL round trips are counted with libpq's
trace (each round trip ends with one ReadyForQuery from the server); Redis round trips are the packets the client
sends (a pipeline is one). The figures are averages over ``n`` creates after a warm-up, so they show the steady
state (a warm pool, a warm token cache). So is the CPU this process spends per create (measured apart, untraced,
best of several blocks), which other load on the machine disturbs less than a throughput figure.

Standalone: ``python bench/journal_trips.py [--profile]`` makes a small database of its own, prints the counts (and
with --profile the cProfile of the API creates), and drops it. bench/journal.py reports the same counts.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import pq
from redis import Redis
from redis.connection import Connection
from rq import Queue
from sqlalchemy import event

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from journal_api.app import create_app  # noqa: E402
from journal_api.bootstrap import bootstrap  # noqa: E402
from journal_api.config import load_settings  # noqa: E402
from journal_api.domain.events import Actor  # noqa: E402
from journal_api.jobs import RQPublisher  # noqa: E402
from journal_api.service.requests import NewRequest  # noqa: E402
from journal_api.service.uow import MemoryPublisher  # noqa: E402
from journal_api.storage.db import make_engine  # noqa: E402
from journal_api.storage.migrate import upgrade  # noqa: E402

import journal_fill as fill  # noqa: E402
from journal_work import new_request  # noqa: E402


class CountingConnection(Connection):
    """A Redis connection that counts what it sends: one packet per command or per pipeline."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sent += 1
        return super().send_packed_command(command, check_health)


class PgTrace:
    """libpq's trace of every connection of an engine, to one file per connection, while ``on``."""

    def __init__(self, engine):
        self.conns, self.files, self.on = [], [], False
        event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi_conn, _record):
        self.conns.append(dbapi_conn)
        if self.on:
            self._trace(dbapi_conn)

    def _trace(self, dbapi_conn):
        fh = tempfile.TemporaryFile("w+")
        self.files.append(fh)
        dbapi_conn.pgconn.trace(fh.fileno())
        dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def start(self):
        self.on = True
        for conn in self.conns:
            if not conn.closed:
                self._trace(conn)

    def stop(self) -> int:
        """Round trips since start()."""
        self.on = False
        for conn in self.conns:
            if not conn.closed:
                conn.pgconn.untrace()  # flushes libpq's buffer
        total = 0
        for fh in self.files:
            fh.seek(0)
            total += sum(1 for line in fh if line.startswith("B\t") and "\tReadyForQuery" in line)
            fh.close()
        self.files = []
        return total


def _measure(trace: PgTrace, n: int, create) -> dict:
    for _ in range(5):  # warm-up: pool connections, token cache, statement caches
        create()
    trace.start()
    redis_before = CountingConnection.sent
    for _ in range(n):
        create()
    trips = {"postgresql": round(trace.stop() / n, 2), "redis": round((CountingConnection.sent - redis_before) / n, 2)}
    return {**trips, "cpu_ms": _cpu_ms(n, create)}


def _cpu_ms(n: int, create, block: int = 10) -> float:
    """This process's CPU per create, untraced (the test client's share is small): the best block of ``block``
    creates, as other load on the machine only ever adds to it."""
    best = float("inf")
    for _ in range(max(1, n // block)):
        cpu = time.process_time()
        for _ in range(block):
            create()
        best = min(best, (time.process_time() - cpu) / block)
    return round(best * 1000, 2)


def count_round_trips(url: str, redis_url: str, fixtures, *, n: int = 50, seed: int = 7,
                      profile: bool = False, sort: str = "cumulative") -> dict:
    """Average round trips of one API create (auth included) and of one in-process register."""
    queue_name = f"hotline-trips-{uuid.uuid4().hex[:8]}"
    settings = load_settings(environ={}, database_url=url, redis_url=redis_url, queue_name=queue_name,
                             data_dir=tempfile.mkdtemp(prefix="hotline-trips-"), env="production")
    redis = Redis.from_url(redis_url, connection_class=CountingConnection)
    engine = make_engine(url)
    trace = PgTrace(engine)
    c = bootstrap(settings, engine=engine, publisher=RQPublisher(Queue(queue_name, connection=redis)))
    client = create_app(c).test_client()
    rng = random.Random(seed)
    result = {}
    try:
        def api_create(fx=None):
            fx = fx or rng.choice(fixtures)
            resp = client.post("/api/v1/requests", json=new_request(rng, fx),
                               headers={"Authorization": f"Bearer {fx.dispatcher_token}"})
            assert resp.status_code == 201, resp.get_data(as_text=True)

        def service_create():
            fx = rng.choice(fixtures)
            actor = Actor(kind="staff", role="dispatcher", id=fx.dispatcher_id, name="bench")
            c.requests.register(fx.id, actor, NewRequest(**new_request(rng, fx)))

        for fx in fixtures:  # every token checked once: the steady state has them all in the cache
            api_create(fx)
        result["api_create"] = _measure(trace, n, api_create)
        result["service_register"] = _measure(trace, n, service_create)
        if profile:
            prof = cProfile.Profile(time.process_time)  # CPU, not waiting for the database
            prof.enable()
            for _ in range(n * 4):
                api_create()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(sort).print_stats(60)
            result["profile"] = out.getvalue()
    finally:
        Queue(queue_name, connection=redis).delete(delete_jobs=True)
        redis.close()
        c.dispose()
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="hotline_trips")
    p.add_argument("--pg-admin-url", default=os.environ.get(
        "HOTLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("-n", type=int, default=50, help="measured creates of each kind")
    p.add_argument("--profile", action="store_true", help="print the cProfile of in-process API creates")
    p.add_argument("--sort", default="cumulative", help="the profile's order (pstats: cumulative, tottime, ...)")
    args = p.parse_args(argv)
    admin = args.pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
    url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + args.db
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    try:
        upgrade(url)
        c = bootstrap(load_settings(environ={}, database_url=url, data_dir=tempfile.mkdtemp(), env="production"),
                      publisher=MemoryPublisher())
        fixtures = fill.create_registry(c, 2, 10, 3, random.Random(1))
        c.dispose()
        result = count_round_trips(url, args.redis_url, fixtures, n=args.n, profile=args.profile, sort=args.sort)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    for kind in ("api_create", "service_register"):
        r = result[kind]
        print(f"{kind:<17} PostgreSQL {r['postgresql']:>5} round trips, Redis {r['redis']:>4}; "
              f"{r['cpu_ms']} ms CPU in this process")
    if args.profile:
        print(result["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
