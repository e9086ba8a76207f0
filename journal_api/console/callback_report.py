"""ПП 416 п. 13 on the analytics page: a call not answered within 5 minutes is called back (or its voice message taken
up) within 10 minutes. For the calls of a period that needed a callback (``callback_reason`` set; its deadline
``callback_due_at`` is 10 minutes after the call, domain/calls.py), this counts how many were called back by the
deadline (``callback_done_at <= callback_due_at``), how many late, and how many are still waiting (overdue or not),
with the median and the 95th percentile of the time to the callback.

Computed live, not kept: callback tasks are few (one call in tens), and the period's rows are found through the
calls' (org_id, arrived_at) index."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import data

RULE = timedelta(minutes=10)


def _bounds(tz: str, first: date, last: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone))


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(engine: sa.Engine, org_id: int, tz: str, first: date, last: date, now: datetime) -> dict | None:
    """``{"needed", "in_time", "late", "waiting", "overdue", "in_time_pct", "p50_min", "p95_min"}`` of the calls
    that arrived in the period's local days; None when the calls table has no callback columns."""
    calls = data.table("calls")
    if calls is None or not {"callback_reason", "callback_due_at", "callback_done_at"} <= set(calls.c.keys()):
        return None
    c = calls.c
    start, end = _bounds(tz, first, last)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.arrived_at, c.callback_due_at, c.callback_done_at).where(
            c.org_id == org_id, c.arrived_at >= start, c.arrived_at < end, c.callback_reason.is_not(None))).all()
    in_time = late = waiting = overdue = 0
    waits: list[float] = []
    for arrived, due, done in rows:
        due = due or (arrived + RULE)
        if done is not None:
            waits.append((done - arrived).total_seconds() / 60)
            if done <= due:
                in_time += 1
            else:
                late += 1
        elif due < now:
            overdue += 1
        else:
            waiting += 1
    needed = len(rows)
    decided = in_time + late + overdue  # a task still within its 10 minutes is neither kept nor broken yet
    return {"needed": needed, "in_time": in_time, "late": late, "waiting": waiting, "overdue": overdue,
            "in_time_pct": round(100 * in_time / decided, 1) if decided else None,
            "p50_min": _quantile(waits, 0.5), "p95_min": _quantile(waits, 0.95)}
