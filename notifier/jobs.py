"""rq jobs and outbox handlers of the notifier. Each takes ids, is idempotent, and lets errors propagate."""
from __future__ import annotations

from .runtime import get_notifier

# The journal's events that give messages; every request.* event also reschedules the request's reminders.
MESSAGE_EVENTS = ("request.registered", "request.assigned", "request.status_changed", "request.reminder_due",
                  "request.escalation_due")


def send_sms(message_id: int) -> str:
    """Send one message from the outbox (a no-op unless it is queued: the database claim decides)."""
    return get_notifier().send(message_id)


def handle_event(container, row) -> None:
    """Outbox handler (journal_api.jobs.subscribe): messages for the event, then the request's next wake-up."""
    notifier = get_notifier()
    if row.name in MESSAGE_EVENTS:
        notifier.on_event(row)
    if row.request_id is not None and row.name.startswith("request.") \
            and row.name not in ("request.reminder_due", "request.escalation_due"):
        from .scheduler import Wakeups

        Wakeups(container.engine, container.clock).touch(row.org_id, row.request_id)
