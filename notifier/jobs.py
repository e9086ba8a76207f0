"""rq jobs and outbox handlers of the notifier. Each takes ids, is idempotent, and lets errors propagate."""
from __future__ import annotations

from .runtime import get_notifier


def send_sms(message_id: int) -> str:
    """Send one message from the outbox (a no-op unless it is queued: the database claim decides)."""
    return get_notifier().send(message_id)


def handle_event(container, row) -> None:
    """Outbox handler (journal_api.jobs.subscribe("*", ...)): the event's messages and the request's next wake-up."""
    get_notifier().handle(row)
