"""The worker's outbox relay loop, on real PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from journal_api.serve import relay_loop
from journal_api.storage import tables as t


def test_the_relay_loop_republishes_a_stale_unpublished_event_and_stops_when_told(container, org):
    with container.engine.begin() as conn:
        stale = conn.execute(sa.insert(t.outbox).values(
            org_id=org.id, name="request.registered", payload={}, created_at=t.utcnow() - timedelta(minutes=5))
            .returning(t.outbox.c.id)).scalar_one()
        fresh = conn.execute(sa.insert(t.outbox).values(
            org_id=org.id, name="request.registered", payload={}, created_at=t.utcnow())
            .returning(t.outbox.c.id)).scalar_one()
    stop = threading.Event()
    loop = threading.Thread(target=relay_loop, args=(container, stop, 0.05))
    loop.start()
    try:
        for _ in range(100):
            if stale in container.publisher.published:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive()
    assert stale in container.publisher.published
    assert fresh not in container.publisher.published  # younger than the relay's grace period
