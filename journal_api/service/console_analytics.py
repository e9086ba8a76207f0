"""The analytics of a period (seed: "Сводная аналитика"): intake by channel, day and hour; resolution against the
deadlines; the top complaints; the load and the ratings per executor; call answer times against ПП 416.

ПП 416 п. 13: the АДС answers a call within 5 minutes, or calls back / takes a voice message within 10 minutes.
The answer time of a call is ``answered_at - arrived_at`` from the ``calls`` table (issue 4); without that table the
section says there is no call data (a request's own times do not tell how long the caller waited).

Days and hours are counted in the organisation's time zone: on PostgreSQL with ``AT TIME ZONE``; on SQLite (the
embedded mode, no time zone support) with the zone's current UTC offset, which is exact for Russian zones (no DST
since 2014).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..storage import tables as t

ANSWER_RULE = timedelta(minutes=5)
TOP = 10


def _local(column, dialect: str, tz: str):
    if dialect == "postgresql":
        return sa.func.timezone(tz, column)
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    return sa.func.datetime(column, f"{int(offset.total_seconds())} seconds")


def _day(column, dialect: str, tz: str):
    local = _local(column, dialect, tz)
    if dialect == "postgresql":
        return sa.func.to_char(local, "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", local)


def _hour(column, dialect: str, tz: str):
    local = _local(column, dialect, tz)
    if dialect == "postgresql":
        return sa.cast(sa.extract("hour", local), sa.Integer)
    return sa.cast(sa.func.strftime("%H", local), sa.Integer)


def analytics(engine: sa.Engine, org_id: int, tz: str, start: datetime, end: datetime, now: datetime) -> dict:
    c = t.requests.c
    dialect = engine.dialect.name
    period = [c.org_id == org_id, c.registered_at >= start, c.registered_at < end]
    finished = c.status.in_(("done", "closed"))
    # A finished request's resolution time: closed_at, else (done, not yet closed) its last update.
    resolved_at = sa.func.coalesce(c.closed_at, c.updated_at)
    on_time = sa.case((sa.and_(finished, c.due_at.is_not(None), resolved_at <= c.due_at), 1), else_=0)
    late = sa.case((sa.and_(finished, c.due_at.is_not(None), resolved_at > c.due_at), 1), else_=0)
    open_overdue = sa.case((sa.and_(c.status.in_(("new", "assigned", "accepted", "postponed", "impossible")),
                                    c.due_at < now), 1), else_=0)
    with engine.connect() as conn:
        def grouped(*cols, order=None, limit=None, extra=()):
            stmt = sa.select(*cols, sa.func.count().label("n")).where(*period, *extra).group_by(*cols)
            stmt = stmt.order_by(*(order if order is not None else cols))
            return [tuple(r) for r in conn.execute(stmt.limit(limit) if limit else stmt)]

        day, hour = _day(c.registered_at, dialect, tz), _hour(c.registered_at, dialect, tz)
        # One pass for the per-day, per-hour and per-channel counts and the deadline figures.
        rows = conn.execute(
            sa.select(day.label("day"), hour.label("hour"), c.channel, c.urgency, sa.func.count().label("n"),
                      sa.func.sum(on_time).label("on_time"), sa.func.sum(late).label("late"),
                      sa.func.sum(open_overdue).label("open_overdue"))
            .where(*period).group_by(day, hour, c.channel, c.urgency)).all()
        by_day: dict[str, int] = {}
        by_hour = [0] * 24
        by_channel: dict[str, int] = {}
        deadlines = {u: {"total": 0, "on_time": 0, "late": 0, "open_overdue": 0} for u in ("emergency", "normal")}
        for r in rows:
            by_day[r.day] = by_day.get(r.day, 0) + r.n
            by_hour[int(r.hour)] += r.n
            by_channel[r.channel] = by_channel.get(r.channel, 0) + r.n
            d = deadlines.setdefault(r.urgency, {"total": 0, "on_time": 0, "late": 0, "open_overdue": 0})
            d["total"] += r.n
            d["on_time"] += r.on_time or 0
            d["late"] += r.late or 0
            d["open_overdue"] += r.open_overdue or 0
        top_work = grouped(c.work_type, order=[sa.desc("n"), c.work_type], limit=TOP)
        top_reason = grouped(c.reason, order=[sa.desc("n"), c.reason], limit=TOP, extra=[c.reason.is_not(None)])
        top_building = grouped(c.building_id, order=[sa.desc("n"), c.building_id], limit=TOP,
                               extra=[c.building_id.is_not(None)])
        load = conn.execute(
            sa.select(c.assignee_id, sa.func.count().label("n"), sa.func.sum(on_time).label("on_time"),
                      sa.func.sum(late).label("late"), sa.func.sum(open_overdue).label("open_overdue"))
            .where(*period, c.assignee_id.is_not(None)).group_by(c.assignee_id)).all()
        rt = t.ratings.c
        ratings = conn.execute(
            sa.select(c.assignee_id, sa.func.count().label("n"), sa.func.avg(rt.score).label("avg"))
            .select_from(t.ratings.join(t.requests, t.requests.c.id == rt.request_id))
            .where(*period, c.assignee_id.is_not(None)).group_by(c.assignee_id)).all()
        names = dict(conn.execute(sa.select(t.staff.c.id, t.staff.c.full_name).where(t.staff.c.org_id == org_id)).all())
        b = t.buildings.c
        addresses = {r.id: f"{r.street}, д. {r.house}" + (f", корп. {r.korpus}" if r.korpus else "")
                     for r in conn.execute(sa.select(b.id, b.street, b.house, b.korpus).where(
                         b.id.in_([x[0] for x in top_building] or [0])))}
        calls = _calls(conn, org_id, start, end)
    days = []
    cursor = start.astimezone(ZoneInfo(tz)).date()
    while cursor < end.astimezone(ZoneInfo(tz)).date() + timedelta(days=1) and len(days) < 400:
        key = cursor.isoformat()
        days.append((key, by_day.get(key, 0)))
        cursor += timedelta(days=1)
    return {
        "total": sum(by_channel.values()), "by_day": days, "by_hour": by_hour,
        "by_channel": sorted(by_channel.items(), key=lambda kv: -kv[1]), "deadlines": deadlines,
        "top_work_type": top_work, "top_reason": top_reason,
        "top_building": [(addresses.get(bid, str(bid)), n) for bid, n in top_building],
        "load": sorted(({"name": names.get(r.assignee_id, "?"), "n": r.n, "on_time": r.on_time or 0,
                         "late": r.late or 0, "open_overdue": r.open_overdue or 0} for r in load),
                       key=lambda x: -x["n"]),
        "ratings": sorted(({"name": names.get(r.assignee_id, "?"), "n": r.n, "avg": round(float(r.avg), 2)}
                           for r in ratings), key=lambda x: -x["avg"]),
        "calls": calls,
    }


def _wait_seconds(c, dialect: str):
    if dialect == "postgresql":
        return sa.extract("epoch", c.answered_at - c.arrived_at)
    return (sa.func.julianday(c.answered_at) - sa.func.julianday(c.arrived_at)) * 86400.0


def _calls(conn, org_id: int, start: datetime, end: datetime) -> dict | None:
    """Answer times of the period's inbound calls against the 5-minute rule, counted in the database; None without
    a calls table."""
    calls = t.metadata.tables.get("calls")
    if calls is None or not {"arrived_at", "answered_at", "status"} <= set(calls.c.keys()):
        return None
    c = calls.c
    dialect = conn.dialect.name
    where = [c.org_id == org_id, c.arrived_at >= start, c.arrived_at < end, c.status != "ringing"]
    if "direction" in c:
        where.append(c.direction == "in")
    wait = _wait_seconds(c, dialect)
    answered = c.answered_at.is_not(None)

    def within(low, high):
        cond = [answered, wait > low] if low is not None else [answered]
        if high is not None:
            cond.append(wait <= high)
        return sa.func.sum(sa.case((sa.and_(*cond), 1), else_=0))

    row = conn.execute(sa.select(
        sa.func.count().label("total"), sa.func.count(c.answered_at).label("answered"),
        within(None, 30).label("le_30s"), within(30, 60).label("le_1m"), within(60, 300).label("le_5m"),
        within(300, None).label("gt_5m"),
        *((sa.func.count(c.callback_reason).label("callbacks"), sa.func.count(c.callback_done_at).label("done"))
          if "callback_reason" in c else ())).where(*where)).one()
    unanswered = conn.execute(sa.select(c.status, sa.func.count()).where(*where, c.answered_at.is_(None))
                              .group_by(c.status).order_by(c.status)).all()
    p50 = p95 = None
    if row.answered and dialect == "postgresql":
        p50, p95 = conn.execute(sa.select(
            sa.func.percentile_cont(0.5).within_group(wait), sa.func.percentile_cont(0.95).within_group(wait))
            .where(*where, answered)).one()
    elif row.answered:  # SQLite: the embedded mode's few calls
        waits = sorted(conn.scalars(sa.select(wait).where(*where, answered)))
        p50, p95 = waits[len(waits) // 2], waits[min(len(waits) - 1, int(len(waits) * 0.95))]
    buckets = {k: int(getattr(row, k) or 0) for k in ("le_30s", "le_1m", "le_5m", "gt_5m")}
    within_rule = buckets["le_30s"] + buckets["le_1m"] + buckets["le_5m"]
    return {"total": row.total, "answered": row.answered, "within_rule": within_rule, "buckets": buckets,
            "unanswered": [(status, n) for status, n in unanswered],
            "callbacks": getattr(row, "callbacks", 0), "callbacks_done": getattr(row, "done", 0),
            "within_rule_pct": round(100 * within_rule / row.total, 1) if row.total else None,
            "p50": float(p50) if p50 is not None else None, "p95": float(p95) if p95 is not None else None}
