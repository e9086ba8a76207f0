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


def test_a_worker_subscribes_the_journals_and_every_packages_handlers(container, monkeypatch):
    from journal_api import jobs
    from journal_api.serve import wire_worker
    from journal_api.service.incidents import on_registered
    from transcription.pipeline import on_recording_stored

    monkeypatch.setattr(jobs, "_HANDLERS", {})  # this process's other tests keep their own subscriptions
    monkeypatch.setattr(jobs, "_container", None)
    periodic = wire_worker(container)
    assert on_registered in jobs.handlers_for("request.registered")  # known incidents
    assert on_recording_stored in jobs.handlers_for("recording.stored")  # transcription
    assert len(jobs.handlers_for("request.registered")) >= 2  # and the notifier's SMS to the resident
    assert all(period > 0 and callable(task) for period, task in periodic)
