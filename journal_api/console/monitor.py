"""The Monitor (seed: "Монитор") and the analytics (seed: "Сводная аналитика") pages."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import g, make_response, render_template, request, url_for

from ..service import console_analytics, console_monitor
from . import clabel, container, data, filters, forms
from .auth import MANAGERS, signed_in

ANALYTICS_DAYS = 30
MAX_DAYS = 366


def _period(form: dict, tz: str, now: datetime) -> tuple[date, date]:
    """The analytics' local days: the form's, else the last 30; at most a year, never reversed."""
    today = now.astimezone(ZoneInfo(tz)).date()
    try:
        last = date.fromisoformat(form["to"]) if form.get("to") else today
        first = date.fromisoformat(form["from"]) if form.get("from") else last - timedelta(days=ANALYTICS_DAYS - 1)
    except ValueError:
        first, last = today - timedelta(days=ANALYTICS_DAYS - 1), today
    if first > last:
        first, last = last, first
    return max(first, last - timedelta(days=MAX_DAYS - 1)), last


def routes(bp) -> None:
    @bp.route("/monitor")
    @signed_in()
    def monitor():
        user, c = g.user, container()
        cf, form = filters.parse(request.args, user.timezone)
        result = console_monitor.monitor(c.engine, user.org_id, cf, c.clock())
        cities, complexes = data.places(user.org_id)
        work_types = [(w.code, w.name) for w in c.registry.list_work_types(user.org_id) if w.active]
        reasons = forms.reason_groups(work_types)  # the journal's reason choice, so a Monitor link's reason shows
        return render_template("monitor.html", m=result, form=form,
                               href=filters.monitor_hrefs(form, url_for("console.journal")), choices={
            "cities": cities, "complexes": complexes, "buildings": data.building_choices(user.org_id),
            "staff": data.staff_choices(user.org_id), "work_types": work_types, "reasons": reasons,
            "reason_codes": {code for grp in reasons for code, _ in grp["reasons"]}})

    @bp.route("/analytics")
    @signed_in(*MANAGERS)
    def analytics():
        user, c = g.user, container()
        cf, form = filters.parse(request.args, user.timezone, default_days=ANALYTICS_DAYS)
        first, last = _period(form, user.timezone, c.clock())
        form["from"], form["to"] = first.isoformat(), last.isoformat()
        deferred: list = []
        result = console_analytics.analytics(c.engine, user.org_id, user.timezone, first, last, c.clock(), deferred)
        charts = {
            "by_day": {"labels": [d[8:] + "." + d[5:7] for d, _ in result["by_day"]],
                       "values": [n for _, n in result["by_day"]]},
            "by_hour": {"labels": [f"{h:02d}" for h in range(24)], "values": result["by_hour"]},
            "by_channel": {"labels": [clabel("channels", k) for k, _ in result["by_channel"]],
                           "values": [n for _, n in result["by_channel"]]},
            "load": {"labels": [x["name"] for x in result["load"]], "values": [x["n"] for x in result["load"]],
                     "late": [x["late"] + x["open_overdue"] for x in result["load"]]},
        }
        response = make_response(render_template("analytics.html", a=result, form=form, charts=charts,
                                                 cb=result["callbacks"]))
        if deferred:  # old figures served as kept: recompute them once the page is on its way
            org_id, tz, now = user.org_id, user.timezone, c.clock()
            response.call_on_close(lambda: console_analytics.refresh(c.engine, org_id, tz, deferred, now))
        return response
