"""ПП 416 п. 13 in the analytics: of the calls that needed a callback, how many were called back within the 10
minutes (callback_due_at against callback_done_at), how many late, and how many still wait, overdue or not."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from journal_api.service import console_analytics
from journal_api.storage import tables_calls as tc


def _task(container, org, n, arrived_ago, done_after=None):
    now = container.clock()
    arrived = now - arrived_ago
    call_id = container.calls.open_call(org_id=org.id, sip_call_id=f"cb{n}", call_uuid=f"cb-{n}",
                                        from_number=f"+7903555{n:04d}", to_number=None, arrived_at=arrived)
    container.calls.callback_task(call_id, reason="missed")
    values = {"callback_due_at": arrived + timedelta(minutes=10)}
    if done_after is not None:
        values["callback_done_at"] = arrived + done_after
    with container.engine.begin() as conn:
        conn.execute(sa.update(tc.calls).where(tc.calls.c.id == call_id).values(**values))
    return call_id


def _period(container, org):
    today = container.clock().astimezone(ZoneInfo(org.timezone)).date()
    return today - timedelta(days=6), today


def test_callbacks_within_ten_minutes_late_and_waiting_are_counted_apart(container, org):
    _task(container, org, 1, timedelta(hours=2), done_after=timedelta(minutes=4))    # in time
    _task(container, org, 2, timedelta(hours=2), done_after=timedelta(minutes=9, seconds=59))  # in time
    _task(container, org, 3, timedelta(hours=1), done_after=timedelta(minutes=25))   # late
    _task(container, org, 4, timedelta(minutes=30))                                   # waiting, overdue
    _task(container, org, 5, timedelta(minutes=2))                                    # waiting, not yet due
    figures = console_analytics.analytics(container.engine, org.id, org.timezone, *_period(container, org),
                                          container.clock())["callbacks"]
    assert {k: figures[k] for k in ("needed", "in_time", "late", "overdue", "waiting")} == \
        {"needed": 5, "in_time": 2, "late": 1, "overdue": 1, "waiting": 1}
    assert figures["in_time_pct"] == 50.0  # 2 of the 4 decided
    assert abs(figures["p50_min"] - (9 + 59 / 60)) < 1e-9
    assert figures["p95_min"] == 25.0


def test_the_analytics_page_shows_the_callback_rule(manager_console, container, org, other_org):
    _task(container, org, 1, timedelta(hours=2), done_after=timedelta(minutes=3))
    _task(container, org, 2, timedelta(hours=1), done_after=timedelta(minutes=12))
    _task(container, other_org, 3, timedelta(hours=1))  # another organisation's task is not counted
    page = manager_console.get("/analytics").get_data(as_text=True)
    assert "Обратные звонки (ПП 416: не позже 10 минут)" in page
    assert '<b id="cb-needed">2</b>' in page and '<b id="cb-in-time">1</b>' in page
    assert '<span id="cb-pct">50.0</span>' in page and '<td id="cb-late">1</td>' in page
    assert '<td id="cb-overdue">0</td>' in page


def test_callback_figures_are_kept_with_the_days_and_summed_over_kept_months(container, org):
    from journal_api.storage.tables_console import console_analytics_days as kept

    _task(container, org, 1, timedelta(days=80), done_after=timedelta(minutes=5))   # in a month kept as one figure
    _task(container, org, 2, timedelta(days=80), done_after=timedelta(minutes=30))  # late, same month
    _task(container, org, 3, timedelta(days=3))                                     # never called back: overdue
    today = container.clock().astimezone(ZoneInfo(org.timezone)).date()
    period = (today - timedelta(days=120), today)
    first = console_analytics.analytics(container.engine, org.id, org.timezone, *period, container.clock())
    with container.engine.connect() as conn:
        payloads = [r.payload for r in conn.execute(sa.select(kept.c.payload).where(kept.c.org_id == org.id))]
    assert sum(p.get("callback", {}).get("late", 0) for p in payloads) == 1  # the month's figures were kept
    again = console_analytics.analytics(container.engine, org.id, org.timezone, *period, container.clock())
    for figures in (first["callbacks"], again["callbacks"]):
        assert {k: figures[k] for k in ("needed", "in_time", "late", "overdue", "waiting")} == \
            {"needed": 3, "in_time": 1, "late": 1, "overdue": 1, "waiting": 0}
        assert figures["p50_min"] == 30.0 and figures["in_time_pct"] == 33.3
