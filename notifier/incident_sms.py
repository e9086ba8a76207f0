"""One SMS to every resident who called about a known incident, when the dispatcher closes it (issue 8 §3).

The journal emits ``incident.closed`` with the residents (one entry per phone number, with the request it made);
this outbox handler puts one ``resident_incident_closed`` message per phone into the notifier's outbox (dedupe key
``incident<id>:<phone>``: a repeated event makes no second message; a resident who answered СТОП is suppressed by
the outbox as usual). Subscribed in the notifier's ``worker()`` hook."""
from __future__ import annotations

from . import compose
from .runtime import get_notifier


def on_incident_closed(container, row, notifier=None) -> list[int]:
    if row.name != "incident.closed":
        return []
    n = notifier or get_notifier()
    data = row.payload or {}
    note = (data.get("note") or "").strip()
    items = []
    with container.engine.connect() as conn:
        for resident in data.get("residents") or []:
            key = f"incident{data['incident_id']}:{resident['phone']}"
            if n.outbox.exists(conn, row.org_id, key):
                continue
            f = compose.load_facts(conn, resident["request_id"])
            if f is None:
                continue
            items.append(n.message(f, recipient=resident["phone"], audience="resident", staff_id=None,
                                   template="resident_incident_closed", dedupe_key=key,
                                   note=f" {note}" if note else ""))
    return n.queue(items)
