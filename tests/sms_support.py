"""Helpers of the SMS tests, the notifier's and the console's (imported by name: the tests directories are not
packages; tests/ itself is on the path)."""
from __future__ import annotations

import sqlalchemy as sa

from journal_api.domain.events import Actor
from journal_api.storage import tables as t
from journal_api.storage.tables_messages import messages
from notifier.inbound import InboundService

SYSTEM = Actor.system("test")
DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
RESIDENT_PHONE = "+79161234567"


class ListEnqueuer:
    """The enqueue port in memory: ids wait here until the test sends them."""

    def __init__(self):
        self.ids: list[int] = []

    def enqueue(self, message_ids):
        self.ids.extend(message_ids)


def pump(container, notifier, *, send: bool = True) -> list[str]:
    """Handle every unhandled outbox event as the worker would (then mark it handled), and send what got queued."""
    with container.engine.begin() as conn:
        rows = conn.execute(sa.select(t.outbox).where(t.outbox.c.handled_at.is_(None)).order_by(t.outbox.c.id)).all()
    for row in rows:
        notifier.handle(row)
        with container.engine.begin() as conn:
            conn.execute(sa.update(t.outbox).where(t.outbox.c.id == row.id).values(handled_at=t.utcnow()))
    results = []
    if send:
        while notifier.enqueuer.ids:
            results.append(notifier.send(notifier.enqueuer.ids.pop(0)))
    return results


def all_messages(container, **where) -> list:
    with container.engine.connect() as conn:
        query = sa.select(messages).order_by(messages.c.id)
        for key, value in where.items():
            query = query.where(messages.c[key] == value)
        return conn.execute(query).all()


def end_request(container, org_id: int, number: int, technician, final: str) -> None:
    """Take an assigned request to ``final``: "closed" (accepted and done by ``technician``, closed by the dispatcher)
    or "cancelled" (by the dispatcher)."""
    if final == "closed":
        tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
        container.requests.transition(org_id, number, tech, "sms", "accepted")
        container.requests.transition(org_id, number, tech, "sms", "done", report="Заменил кран")
        container.requests.transition(org_id, number, DISPATCHER, "dispatcher", "closed")
    else:
        container.requests.transition(org_id, number, DISPATCHER, "dispatcher", final, reason="Дубль")


class CrashingOnce(InboundService):
    """Fault injection: handling the first message fails the way a lost database connection would."""

    def __init__(self, notifier):
        super().__init__(notifier)
        self.crashes = 1

    def apply(self, *args):
        if self.crashes:
            self.crashes -= 1
            raise ConnectionError("the database went away")
        return super().apply(*args)
