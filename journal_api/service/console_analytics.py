"""The analytics of a period of local days (seed: "Сводная аналитика"): intake by channel, day and hour; resolution
against the deadlines; the top complaints; the load and the ratings per executor; call answer times against ПП 416.

ПП 416 п. 13: the АДС answers a call within 5 minutes, or calls back / takes a voice message within 10 minutes. The
answer time of a call is ``answered_at - arrived_at`` from the ``calls`` table (issue 4); without that table the
section says there is no call data.

Scale. A year of a large УК is hundreds of thousands of requests: scanning them on every view cannot stay under
300 ms. Every figure here is a sum, so each local day's figures are computed once and kept in
``console_analytics_days``; a view sums the days of its period and computes only today and the days whose figures
have grown older than ``max_age(day)`` (minutes for the last days, whose requests still change; a day for days
older than 45 days). A calendar month that ended 45 days ago or more is kept as one figure, so a year is about 60
kept rows, not 365. What must be recomputed is read in one grouped query per run of days. "Open and overdue now"
depends on the moment, so it is counted live from the open requests (a partial index). The wait percentiles come from
10-second bins (exact to 10 s).

Days and hours are the organisation's: PostgreSQL converts with ``AT TIME ZONE``; SQLite (the embedded mode, no time
zones) uses the zone's current UTC offset, exact for Russian zones (no DST since 2014).
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..domain.status import OPEN_STATUSES
from ..storage import tables as t
from ..storage.tables_console import console_analytics_days as cache

TOP = 10
WAIT_BIN = 10  # seconds
WAIT_BINS = 61  # 0..600 s, and the last bin: longer
OPEN = sorted(s.value for s in OPEN_STATUSES)


def max_age(day_age: int) -> timedelta:
    """How long the figures of a day that many days old stay good."""
    if day_age < 2:
        return timedelta(minutes=2)
    if day_age < 7:
        return timedelta(minutes=10)
    if day_age < 45:
        return timedelta(hours=1)
    return timedelta(days=1)


def _local(column, dialect: str, tz: str):
    if dialect == "postgresql":
        return sa.func.timezone(tz, column)
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    return sa.func.datetime(column, f"{int(offset.total_seconds())} seconds")


def _day(column, dialect: str, tz: str):
    local = _local(column, dialect, tz)
    return sa.func.to_char(local, "YYYY-MM-DD") if dialect == "postgresql" else sa.func.strftime("%Y-%m-%d", local)


def _hour(column, dialect: str, tz: str):
    local = _local(column, dialect, tz)
    if dialect == "postgresql":
        return sa.cast(sa.extract("hour", local), sa.Integer)
    return sa.cast(sa.func.strftime("%H", local), sa.Integer)


def _wait(c, dialect: str):
    if dialect == "postgresql":
        return sa.extract("epoch", c.answered_at - c.arrived_at)
    return (sa.func.julianday(c.answered_at) - sa.func.julianday(c.arrived_at)) * 86400.0


def _empty() -> dict:
    return {"day": Counter(), "hour": Counter(), "channel": Counter(), "work_type": Counter(), "reason": Counter(),
            "building": Counter(), "load": Counter(), "load_on_time": Counter(), "load_late": Counter(),
            "on_time": Counter(), "late": Counter(), "total": Counter(), "rating_sum": Counter(),
            "rating_n": Counter(), "calls": Counter(), "unanswered": Counter(), "waits": Counter(),
            "callback": Counter(), "callback_waits": Counter()}


def _day_figures(days: dict, day: str) -> dict:
    """A day's empty figures, made once per day (``setdefault(day, _empty())`` built 17 Counters per ROW and threw
    them away: half the time of a year's first view)."""
    days[day] = _empty()
    return days[day]


def _compute(conn, org_id: int, tz: str, first: date, last: date, now: datetime) -> dict[str, dict]:
    """The figures of every local day from ``first`` to ``last``: {"YYYY-MM-DD": {section: Counter}}."""
    dialect = conn.dialect.name
    start = datetime.combine(first, time(0), ZoneInfo(tz))
    end = datetime.combine(last + timedelta(days=1), time(0), ZoneInfo(tz))
    c = t.requests.c
    finished = c.status.in_(("done", "closed"))
    # When the work was done; the closing time, or the last update, only for old rows whose history had no 'done'.
    resolved_at = sa.func.coalesce(c.done_at, c.closed_at, c.updated_at)
    on_time = sa.func.sum(sa.case((sa.and_(finished, c.due_at.is_not(None), resolved_at <= c.due_at), 1), else_=0))
    late = sa.func.sum(sa.case((sa.and_(finished, c.due_at.is_not(None), resolved_at > c.due_at), 1), else_=0))
    day, hour = _day(c.registered_at, dialect, tz), _hour(c.registered_at, dialect, tz)
    keys = (day, hour, c.channel, c.urgency, c.work_type, c.reason, c.building_id, c.assignee_id)
    days: dict[str, dict] = {}
    for r in conn.execute(sa.select(*keys, sa.func.count(), on_time, late)
                          .where(c.org_id == org_id, c.registered_at >= start, c.registered_at < end)
                          .group_by(*keys)):
        d_, h, channel, urgency, work_type, reason, building, assignee, n, ok, bad = r
        p = days.get(d_) or _day_figures(days, d_)
        p["day"][d_] += n
        p["hour"][str(h)] += n
        p["channel"][channel] += n
        p["work_type"][work_type] += n
        p["total"][urgency] += n
        p["on_time"][urgency] += ok or 0
        p["late"][urgency] += bad or 0
        if reason:
            p["reason"][reason] += n
        if building is not None:
            p["building"][str(building)] += n
        if assignee is not None:
            p["load"][str(assignee)] += n
            p["load_on_time"][str(assignee)] += ok or 0
            p["load_late"][str(assignee)] += bad or 0
    rt = t.ratings.c
    for d_, assignee, n, total in conn.execute(
            sa.select(day, c.assignee_id, sa.func.count(), sa.func.sum(rt.score))
            .select_from(t.ratings.join(t.requests, t.requests.c.id == rt.request_id))
            .where(c.org_id == org_id, c.registered_at >= start, c.registered_at < end, c.assignee_id.is_not(None))
            .group_by(day, c.assignee_id)):
        p = days.get(d_) or _day_figures(days, d_)
        p["rating_n"][str(assignee)] += n
        p["rating_sum"][str(assignee)] += int(total or 0)
    calls = t.metadata.tables.get("calls")
    if calls is not None and {"arrived_at", "answered_at", "status"} <= set(calls.c.keys()):
        _compute_calls(conn, calls, org_id, tz, start, end, days)
        if {"callback_reason", "callback_due_at", "callback_done_at"} <= set(calls.c.keys()):
            _compute_callbacks(conn, calls, org_id, tz, start, end, now, days)
    return days


def _compute_calls(conn, calls: sa.Table, org_id: int, tz: str, start, end, days: dict) -> None:
    c, dialect = calls.c, conn.dialect.name
    if dialect == "postgresql":
        bin_of = sa.func.least(sa.cast(sa.func.floor(_wait(c, dialect) / WAIT_BIN), sa.Integer), WAIT_BINS - 1)
    else:  # SQLite: CAST truncates, which is floor for a wait (never negative); min() of two is the smaller
        bin_of = sa.func.min(sa.cast(_wait(c, dialect) / WAIT_BIN, sa.Integer), WAIT_BINS - 1)
    binned = sa.case((c.answered_at.is_(None), -1), else_=bin_of)
    callback = sa.func.count(c.callback_reason) if "callback_reason" in c else sa.literal(0)
    done = sa.func.count(c.callback_done_at) if "callback_done_at" in c else sa.literal(0)
    where = [c.org_id == org_id, c.arrived_at >= start, c.arrived_at < end, c.status != "ringing"]
    if "direction" in c:
        where.append(c.direction == "in")
    day = _day(c.arrived_at, dialect, tz)
    for d_, status, b, n, cb, cb_done in conn.execute(
            sa.select(day, c.status, binned, sa.func.count(), callback, done).where(*where)
            .group_by(day, c.status, binned)):
        p = days.get(d_) or _day_figures(days, d_)
        p["calls"]["total"] += n
        p["calls"]["callbacks"] += cb or 0
        p["calls"]["callbacks_done"] += cb_done or 0
        if b == -1:
            p["unanswered"][status or "missed"] += n
        else:
            p["calls"]["answered"] += n
            p["waits"][str(b)] += n


CALLBACK_RULE = timedelta(minutes=10)  # ПП 416 п. 13; a task's own callback_due_at wins when set


def _compute_callbacks(conn, calls: sa.Table, org_id: int, tz: str, start, end, now: datetime, days: dict) -> None:
    """ПП 416 п. 13 per day: of the calls that needed a callback (``callback_reason`` set), how many were called back
    by their deadline, how many late, and how many are still waiting, past the deadline or not (at ``now``), with
    the time to the callback in whole seconds (for the median and the 95th percentile). The tasks are a few in a
    hundred calls, read through a partial index (migration 0014) and classified here; kept with the day's other
    figures, so a year's view no longer reads them (it took 50-100 ms at 700,000 calls, bench/console.py). A kept
    day's "waiting" can only be a task of its last 10 minutes; yesterday's figures are recomputed every 2 minutes."""
    c = calls.c
    for d_, arrived, due, done in conn.execute(
            sa.select(_day(c.arrived_at, conn.dialect.name, tz), c.arrived_at, c.callback_due_at, c.callback_done_at)
            .where(c.org_id == org_id, c.arrived_at >= start, c.arrived_at < end, c.callback_reason.is_not(None))):
        p = days.get(d_) or _day_figures(days, d_)
        due = due or (arrived + CALLBACK_RULE)
        if done is not None:
            p["callback_waits"][str(int((done - arrived).total_seconds()))] += 1
            p["callback"]["in_time" if done <= due else "late"] += 1
        else:
            p["callback"]["overdue" if due < now else "waiting"] += 1


MONTH_AFTER = 45  # a calendar month whose last day is this many days old is kept as one figure


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _spans(first: date, last: date, today: date) -> list[tuple[str, date, date]]:
    """The period as kept spans: whole old calendar months, else single days (today included, never kept)."""
    spans, cursor, end = [], first, min(last, today)
    while cursor <= end:
        month_end = _month_end(cursor)
        if cursor.day == 1 and month_end <= end and (today - month_end).days >= MONTH_AFTER:
            spans.append(("month", cursor, month_end))
            cursor = month_end + timedelta(days=1)
        else:
            spans.append(("day", cursor, cursor))
            cursor += timedelta(days=1)
    return spans


DEFER_AFTER = 7  # kept figures of spans ended this many days ago may be served stale and refreshed after the page


def _figures(conn, org_id: int, tz: str, first: date, last: date, today: date, now: datetime,
             deferred: list | None = None) -> list[dict]:
    """The figures of every span of the period: kept ones where fresh enough, else computed (and kept, except
    today's). With ``deferred`` (a list), stale kept figures of spans that ended more than DEFER_AFTER days ago are
    served as they are and their spans appended to it, for :func:`refresh` once the page has been sent."""
    spans = _spans(first, last, today)
    kept = {}
    for span, day, payload, computed_at in conn.execute(
            sa.select(cache.c.span, cache.c.day, cache.c.payload, cache.c.computed_at)
            .where(cache.c.org_id == org_id, cache.c.day >= first, cache.c.day <= last)):
        kept[(span, day)] = (payload, computed_at)
    found, stale = [], []
    for span, lo, hi in spans:
        hit = kept.get((span, lo))
        if hit is not None and hi < today and now - hit[1] <= max_age((today - hi).days):
            found.append(hit[0])
        elif hit is not None and deferred is not None and (today - hi).days > DEFER_AFTER:
            found.append(hit[0])
            deferred.append((span, lo, hi))
        else:
            stale.append((span, lo, hi))
    found.extend(_recompute(conn, org_id, tz, stale, today, now))
    return found


def _recompute(conn, org_id: int, tz: str, spans: list, today: date, now: datetime) -> list[dict]:
    found, keep = [], []
    for lo, hi in _ranges([(lo, hi) for _, lo, hi in spans]):
        computed = _compute(conn, org_id, tz, lo, hi, now)
        for span, a, b in spans:
            if not lo <= a <= hi:
                continue
            days = [computed.get((a + timedelta(days=i)).isoformat(), _empty()) for i in range((b - a).days + 1)]
            payload = _merge(days) if span == "month" else days[0]
            found.append(payload)
            if b < today:
                keep.append((span, a, payload))
    _store(conn, org_id, keep, now)
    return found


def refresh(engine: sa.Engine, org_id: int, tz: str, spans: list, now: datetime) -> None:
    """Recompute and keep the figures of ``spans`` (those :func:`analytics` served stale)."""
    if spans:
        with engine.begin() as conn:
            _recompute(conn, org_id, tz, spans, now.astimezone(ZoneInfo(tz)).date(), now)


def warm(engine: sa.Engine, org_id: int, tz: str, days: int, now: datetime) -> int:
    """Compute and keep the figures of the last ``days`` days (``hotline analytics warm``, e.g. nightly from cron),
    so no manager's first view pays for them. Returns the number of spans kept."""
    today = now.astimezone(ZoneInfo(tz)).date()
    spans = [s for s in _spans(today - timedelta(days=days - 1), today, today) if s[2] < today]
    with engine.begin() as conn:
        _recompute(conn, org_id, tz, spans, today, now)
    return len(spans)


def _ranges(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Runs of spans to compute in one query each; spans closer than a week are read together."""
    out: list[list[date]] = []
    for lo, hi in sorted(spans):
        if out and (lo - out[-1][1]).days <= 7:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def _store(conn, org_id: int, spans: list[tuple[str, date, dict]], now: datetime) -> None:
    """Keep the figures of ``spans`` ((span, day, payload)), up to 100 rows a statement (a year: ~70 rows)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for i in range(0, len(spans), 100):
        stmt = insert(cache).values([{"org_id": org_id, "span": span, "day": day, "computed_at": now,
                                      "payload": {k: dict(v) for k, v in payload.items() if v}}
                                     for span, day, payload in spans[i:i + 100]])
        conn.execute(stmt.on_conflict_do_update(index_elements=[cache.c.org_id, cache.c.span, cache.c.day],
                                                set_={"payload": stmt.excluded.payload,
                                                      "computed_at": stmt.excluded.computed_at}))


def analytics(engine: sa.Engine, org_id: int, tz: str, first: date, last: date, now: datetime,
              deferred: list | None = None) -> dict:
    """The figures of the local days ``first``..``last`` (inclusive). See :func:`_figures` for ``deferred``."""
    today = now.astimezone(ZoneInfo(tz)).date()
    with engine.begin() as conn:
        payloads = _figures(conn, org_id, tz, first, last, today, now, deferred) if first <= today else []
        overdue = _open_overdue(conn, org_id, tz, first, last, now)
        names = dict(conn.execute(sa.select(t.staff.c.id, t.staff.c.full_name)
                                  .where(t.staff.c.org_id == org_id)).all())
        total = _merge(payloads)
        b = t.buildings.c
        top_building = total["building"].most_common(TOP)
        addresses = {str(r.id): f"{r.street}, д. {r.house}" + (f", корп. {r.korpus}" if r.korpus else "")
                     for r in conn.execute(sa.select(b.id, b.street, b.house, b.korpus).where(
                         b.org_id == org_id, b.id.in_([int(k) for k, _ in top_building] or [0])))}
        has_calls = t.metadata.tables.get("calls") is not None
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)][:400]
    deadlines = {u: {"total": total["total"][u], "on_time": total["on_time"][u], "late": total["late"][u],
                     "open_overdue": overdue["urgency"][u]} for u in ("emergency", "normal")}
    staff_ids = set(total["load"]) | set(overdue["assignee"])
    return {
        "total": sum(total["channel"].values()),
        "by_day": [(d.isoformat(), total["day"][d.isoformat()]) for d in span],
        "by_hour": [total["hour"][str(h)] for h in range(24)],
        "by_channel": total["channel"].most_common(), "deadlines": deadlines,
        "top_work_type": total["work_type"].most_common(TOP), "top_reason": total["reason"].most_common(TOP),
        "top_building": [(addresses.get(k, k), n) for k, n in top_building],
        "load": sorted(({"name": names.get(int(k), "?"), "n": total["load"][k], "on_time": total["load_on_time"][k],
                         "late": total["load_late"][k], "open_overdue": overdue["assignee"][k]} for k in staff_ids),
                       key=lambda x: (-x["n"], x["name"])),
        "ratings": sorted(({"name": names.get(int(k), "?"), "n": n, "avg": round(total["rating_sum"][k] / n, 2)}
                           for k, n in total["rating_n"].items() if n), key=lambda x: (-x["avg"], x["name"])),
        "calls": _calls_summary(total) if has_calls else None,
        "callbacks": _callbacks_summary(total) if has_calls else None,
    }


def _merge(payloads) -> dict:
    """Sum the days' figures (plain dicts from the cache or Counters just computed): a tight loop, as a year is
    ~200k entries."""
    merged: dict[str, dict] = {key: {} for key in _empty()}
    for payload in payloads:
        for section, figures in payload.items():
            acc = merged.setdefault(section, {})
            get = acc.get
            for key, n in figures.items():
                acc[key] = get(key, 0) + n
    return {section: Counter(figures) for section, figures in merged.items()}


def _open_overdue(conn, org_id: int, tz: str, first: date, last: date, now: datetime) -> dict:
    """The period's requests still open and past their deadline now, by urgency and assignee (the open ones only:
    a partial index)."""
    c = t.requests.c
    start = datetime.combine(first, time(0), ZoneInfo(tz))
    end = datetime.combine(last + timedelta(days=1), time(0), ZoneInfo(tz))
    out = {"urgency": Counter(), "assignee": Counter()}
    for urgency, assignee, n in conn.execute(
            sa.select(c.urgency, c.assignee_id, sa.func.count())
            .where(c.org_id == org_id, c.status.in_(OPEN), c.registered_at >= start, c.registered_at < end,
                   c.due_at < now).group_by(c.urgency, c.assignee_id)):
        out["urgency"][urgency] += n
        if assignee is not None:
            out["assignee"][str(assignee)] += n
    return out


def _calls_summary(total: dict) -> dict:
    calls, waits = total["calls"], total["waits"]
    bins = [waits[str(i)] for i in range(WAIT_BINS)]
    answered = sum(bins)
    buckets = {"le_30s": sum(bins[:3]), "le_1m": sum(bins[3:6]), "le_5m": sum(bins[6:30]),
               "gt_5m": sum(bins[30:])}
    within = buckets["le_30s"] + buckets["le_1m"] + buckets["le_5m"]

    def percentile(q: float):
        if not answered:
            return None
        rank, seen = q * answered, 0
        for i, n in enumerate(bins):
            seen += n
            if seen >= rank:
                return float((i + 1) * WAIT_BIN)  # the bin's upper edge: "at most this long"
        return float(WAIT_BINS * WAIT_BIN)

    return {"total": calls["total"], "answered": answered, "within_rule": within, "buckets": buckets,
            "unanswered": sorted(total["unanswered"].items()), "callbacks": calls["callbacks"],
            "callbacks_done": calls["callbacks_done"],
            "within_rule_pct": round(100 * within / calls["total"], 1) if calls["total"] else None,
            "p50": percentile(0.5), "p95": percentile(0.95)}


def _callbacks_summary(total: dict) -> dict:
    """``{"needed", "in_time", "late", "waiting", "overdue", "in_time_pct", "p50_min", "p95_min"}``: a task still
    within its 10 minutes is neither kept nor broken yet, so the share is of the decided ones."""
    cb, waits = total["callback"], sorted((int(k), n) for k, n in total["callback_waits"].items())
    decided = cb["in_time"] + cb["late"] + cb["overdue"]
    done = sum(n for _, n in waits)

    def quantile(q: float):  # the value at index int(q * n) of the sorted waits, in minutes
        rank, seen = min(done - 1, int(q * done)), 0
        for seconds, n in waits:
            seen += n
            if seen > rank:
                return seconds / 60
        return None

    return {"needed": decided + cb["waiting"], "in_time": cb["in_time"], "late": cb["late"],
            "waiting": cb["waiting"], "overdue": cb["overdue"],
            "in_time_pct": round(100 * cb["in_time"] / decided, 1) if decided else None,
            "p50_min": quantile(0.5) if done else None, "p95_min": quantile(0.95) if done else None}
