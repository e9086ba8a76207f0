"""The Monitor and the analytics: open, overdue and urgent requests by every breakdown, per executor; intake by
channel, day and hour; deadlines kept; top complaints; load and ratings; call answer times against ПП 416."""
from __future__ import annotations

from datetime import timedelta

import pytest
from console_support import DISPATCHER, SYSTEM

from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service import console_analytics, console_monitor
from journal_api.service.console_monitor import ConsoleFilter
from journal_api.service.queries import RequestFilter
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher


def _days(org, now, back: int):
    """The local days from ``back`` days ago to today."""
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo(org.timezone)).date()
    return today - timedelta(days=back), today


@pytest.fixture
def journal(container, settings, pg_engine, org, building, technician):
    """An emergency registered three days ago and assigned (overdue now), a lift request today (unassigned), and a
    request done and rated."""
    past = container.clock() - timedelta(days=3)
    old = bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=lambda: past)

    def new(c, **fields):
        return c.requests.register(org.id, DISPATCHER, NewRequest(**{
            "description": "Заявка", "building_id": building.id, "apartment": 5, "channel": "phone", **fields}))

    overdue = new(old, work_type="water", urgency="emergency", reason="Прорыв трубы")
    old.requests.assign(org.id, overdue.number, SYSTEM, "system", technician.id)
    lift = new(container, work_type="elevator", channel="sms")
    done = new(container, work_type="water")
    container.requests.assign(org.id, done.number, SYSTEM, "system", technician.id)
    tech = Actor(kind="staff", role="technician", id=technician.id, name=technician.full_name)
    container.requests.transition(org.id, done.number, tech, "web", "accepted")
    container.requests.transition(org.id, done.number, tech, "web", "done", report="Готово")
    container.requests.rate(org.id, done.number, Actor(kind="resident", role="resident", name="Житель"), "web", 4)
    return overdue, lift, done


def test_the_monitor_counts_open_overdue_and_unassigned_requests(container, org, technician, journal):
    m = console_monitor.monitor(container.engine, org.id, ConsoleFilter(), container.clock())
    assert m["totals"] == {"open": 2, "overdue": 1, "urgent": 0, "unassigned": 1}
    assert m["executors"] == [{"name": technician.full_name, "in_work": 1, "accepted": 0, "overdue": 1,
                               "id": technician.id}]
    assert dict(m["by"]["work_type"])["water"] == {"label": "water", "open": 1, "overdue": 1, "urgent": 0,
                                                   "unassigned": 0}
    assert dict(m["by"]["reason"])["Прорыв трубы"]["overdue"] == 1
    by_label = {kind: {cell["label"]: cell for _, cell in rows} for kind, rows in m["by"].items()}
    assert by_label["city"]["Москва"]["open"] == 2
    assert by_label["complex"]["ЖК Солнечный"]["open"] == 2


def test_the_monitor_filters_by_work_type_and_period(container, org, journal):
    lift_only = ConsoleFilter(base=RequestFilter(work_type=["elevator"]))
    assert console_monitor.monitor(container.engine, org.id, lift_only, container.clock())["totals"]["open"] == 1
    today = ConsoleFilter(base=RequestFilter(registered_from=container.clock() - timedelta(hours=1)))
    assert console_monitor.monitor(container.engine, org.id, today, container.clock())["totals"] == \
        {"open": 1, "overdue": 0, "urgent": 0, "unassigned": 1}


def test_the_monitor_page_links_its_figures_to_the_journal(console, journal):
    page = console.get("/monitor").get_data(as_text=True)
    assert '<b id="m-overdue">1</b>' in page and '<b id="m-open">2</b>' in page
    listed = console.get("/journal?overdue=1").get_data(as_text=True)
    assert f'href="/requests/{journal[0].number}"' in listed and f'href="/requests/{journal[1].number}"' not in listed


def test_the_analytics_of_a_period(container, org, technician, journal):
    now = container.clock()
    a = console_analytics.analytics(container.engine, org.id, org.timezone, *_days(org, now, 7), now)
    assert a["total"] == 3
    assert dict(a["by_channel"]) == {"phone": 2, "sms": 1}
    assert sum(a["by_hour"]) == 3 and sum(n for _, n in a["by_day"]) == 3
    assert a["deadlines"]["emergency"]["open_overdue"] == 1
    assert a["deadlines"]["normal"]["on_time"] == 1
    assert a["top_work_type"][0] == ("water", 2)
    assert a["ratings"] == [{"name": technician.full_name, "n": 1, "avg": 4.0}]
    assert [x["n"] for x in a["load"]] == [2]


def test_call_answer_times_are_measured_against_the_five_minute_rule(container, org):
    now = container.clock()
    calls = container.calls
    for n, wait in enumerate((20, 7 * 60)):
        call_id = calls.open_call(org_id=org.id, sip_call_id=f"c{n}", call_uuid=f"u{n}", from_number="+79035550000",
                                  to_number=None, arrived_at=now - timedelta(minutes=30))
        calls.answered(call_id, now - timedelta(minutes=30) + timedelta(seconds=wait))
        calls.ended(call_id, at=now - timedelta(minutes=20), status="answered")
    calls.missed(org_id=org.id, sip_call_id="m", from_number="+79035550001", to_number=None,
                 at=now - timedelta(minutes=10))
    a = console_analytics.analytics(container.engine, org.id, org.timezone, *_days(org, now, 1), now)
    assert a["calls"]["total"] == 3 and a["calls"]["answered"] == 2 and a["calls"]["within_rule"] == 1
    assert a["calls"]["buckets"] == {"le_30s": 1, "le_1m": 0, "le_5m": 0, "gt_5m": 1}
    assert a["calls"]["unanswered"] == [("over_capacity", 1)] and a["calls"]["callbacks"] == 1


def test_the_analytics_page_draws_its_charts_from_the_bundled_library(manager_console, journal):
    console = manager_console
    page = console.get("/analytics").get_data(as_text=True)
    assert '<b id="a-total">3</b>' in page and 'src="/console/static/vendor/chart.umd.min.js"' in page
    assert "http://" not in page.split("<main>")[1].split("</main>")[0].replace("http://localhost", "")
    library = console.get("/console/static/vendor/chart.umd.min.js")
    assert library.status_code == 200 and b"Chart.js v4" in library.data[:200]


def test_the_console_works_on_the_embedded_sqlite_too(sqlite_container):
    from console_support import sign_in

    from journal_api.app import create_app
    from journal_api.seed import seed_demo

    c = sqlite_container
    seed_demo(c)
    org = c.registry.organisation_by_code("demo")
    building = c.registry.list_buildings(org.id)[0]
    c.requests.register(org.id, DISPATCHER, NewRequest(description="Нет воды", work_type="water",
                                                       building_id=building.id, channel="phone"))
    now = c.clock()
    call_id = c.calls.open_call(org_id=org.id, sip_call_id="s", call_uuid="s1", from_number=None, to_number=None,
                                arrived_at=now - timedelta(minutes=5))
    c.calls.answered(call_id, now - timedelta(minutes=5) + timedelta(seconds=45))
    c.calls.ended(call_id, at=now, status="answered")
    a = console_analytics.analytics(c.engine, org.id, org.timezone, *_days(org, now, 1), now)
    assert a["total"] == 1 and sum(a["by_hour"]) == 1
    assert a["calls"]["buckets"]["le_1m"] == 1 and a["calls"]["p50"] == 50.0  # the 40-50 s bin
    client = create_app(c).test_client()
    assert sign_in(client, login="manager", password="manager1").status_code == 302
    for path in ("/board", "/journal", "/requests/1", "/monitor", "/analytics", "/journal/print",
                 "/journal/export.xlsx", "/requests/new"):
        assert client.get(path).status_code == 200, path


def test_past_days_are_summed_from_kept_figures_that_are_refreshed_as_they_age(container, settings, pg_engine, org,
                                                                               building):
    """A day's figures are kept; a change to its requests shows once the figures are older than max_age (an hour
    for a day ten days old); today is always counted live."""
    from zoneinfo import ZoneInfo

    now = container.clock()
    past = now - timedelta(days=10)
    old = bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=lambda: past)
    r = old.requests.register(org.id, DISPATCHER, NewRequest(description="Старая", work_type="water",
                                                             building_id=building.id, channel="phone"))
    days = _days(org, now, 14)
    first = console_analytics.analytics(container.engine, org.id, org.timezone, *days, now)
    assert first["top_work_type"] == [("water", 1)]
    container.requests.update(org.id, r.number, DISPATCHER, "dispatcher", {"work_type": "heating"})
    kept = console_analytics.analytics(container.engine, org.id, org.timezone, *days, now + timedelta(minutes=30))
    assert kept["top_work_type"] == [("water", 1)]  # the kept figures, still young enough
    later = now + timedelta(hours=1, minutes=1)
    assert console_analytics.analytics(container.engine, org.id, org.timezone, *days, later)["top_work_type"] == \
        [("heating", 1)]
    container.requests.register(org.id, DISPATCHER, NewRequest(description="Сегодня", work_type="gas",
                                                               building_id=building.id, channel="sms"))
    today = console_analytics.analytics(container.engine, org.id, org.timezone, *days, later)
    assert dict(today["top_work_type"]) == {"heating": 1, "gas": 1}
    assert today["by_day"][-1] == (now.astimezone(ZoneInfo(org.timezone)).date().isoformat(), 1)


def test_old_calendar_months_are_kept_whole_and_recent_days_one_by_one():
    from datetime import date

    spans = console_analytics._spans(date(2026, 1, 15), date(2026, 11, 27), today=date(2026, 11, 27))
    months = [(lo.isoformat(), hi.isoformat()) for kind, lo, hi in spans if kind == "month"]
    assert months[0] == ("2026-02-01", "2026-02-28") and months[-1] == ("2026-09-01", "2026-09-30")
    days = [lo for kind, lo, _ in spans if kind == "day"]
    assert days[0] == date(2026, 1, 15) and days[16] == date(2026, 1, 31) and days[17] == date(2026, 10, 1)
    assert days[-1] == date(2026, 11, 27) and len(days) == 17 + 31 + 27


def test_stale_figures_of_old_days_are_served_then_refreshed_after_the_page(container, settings, pg_engine, org,
                                                                            building):
    now = container.clock()
    past = now - timedelta(days=20)
    old = bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=lambda: past)
    r = old.requests.register(org.id, DISPATCHER, NewRequest(description="Старая", work_type="water",
                                                             building_id=building.id, channel="phone"))
    days = _days(org, now, 30)
    assert console_analytics.warm(container.engine, org.id, org.timezone, 31, now) == 30
    container.requests.update(org.id, r.number, DISPATCHER, "dispatcher", {"work_type": "heating"})
    later, deferred = now + timedelta(hours=2), []
    served = console_analytics.analytics(container.engine, org.id, org.timezone, *days, later, deferred)
    assert served["top_work_type"] == [("water", 1)]
    assert len(deferred) == 23  # the days from 30 to 8 days ago: kept, an hour old, and older than a week
    console_analytics.refresh(container.engine, org.id, org.timezone, deferred, later)
    assert console_analytics.analytics(container.engine, org.id, org.timezone, *days, later, [])["top_work_type"] \
        == [("heating", 1)]


def test_the_warm_command_keeps_the_figures(settings, container, org, monkeypatch):
    from click.testing import CliRunner

    from journal_api.cli import _plug, cli

    monkeypatch.setenv("HOTLINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", settings.data_dir)
    _plug()
    result = CliRunner().invoke(cli, ["analytics", "warm", "--org", "demo", "--days", "40"])
    assert result.exit_code == 0 and result.output.strip() == "39 spans kept", result.output
