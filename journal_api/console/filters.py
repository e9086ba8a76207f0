"""The journal's and the Monitor's filters from the query string: bad values are dropped with a message, never a 500."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ..domain.status import Status
from ..service.console_monitor import ConsoleFilter
from ..service.queries import SORTS, RequestFilter
from . import clabel

SORT_LABELS = {key: clabel("sorts", key) for key in ("-registered_at", "registered_at", "due_at")}


def _int(value: str | None) -> int | None:
    try:
        number = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is None or 0 < number < 2 ** 31 else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz))


def parse(args, tz: str, *, default_days: int | None = None, today: date | None = None) -> tuple[ConsoleFilter, dict]:
    """(the filter, the form's values). Dates are the organisation's local days; ``to`` is inclusive."""
    form = {k: args.get(k, "") for k in ("urgency", "reason", "building", "complex", "city", "assignee",
                                          "responsible", "from", "to", "q", "sort", "overdue", "urgent", "open")}
    form["status"] = [s for s in args.getlist("status") if s in Status._value2member_map_]
    form["work_type"] = [w for w in args.getlist("work_type") if w][:20]
    start, end = _date(form["from"]), _date(form["to"])
    if default_days and not start and not end:
        end = today or datetime.now(ZoneInfo(tz)).date()
        start = end - timedelta(days=default_days - 1)
        form["from"], form["to"] = start.isoformat(), end.isoformat()
    sort = form["sort"] if form["sort"] in SORTS else "-registered_at"
    form["sort"] = sort
    assignee = form["assignee"]
    base = RequestFilter(
        status=form["status"] or None, work_type=form["work_type"] or None,
        urgency=form["urgency"] if form["urgency"] in ("emergency", "normal") else None,
        building_id=_int(form["building"]), complex_id=_int(form["complex"]), city_id=_int(form["city"]),
        assignee_id=_int(assignee) if assignee != "none" else None, unassigned=assignee == "none",
        registered_from=day_start(start, tz) if start else None,
        registered_to=day_start(end + timedelta(days=1), tz) if end else None,
        overdue=form["overdue"] == "1", q=(form["q"] or "").strip()[:200] or None, sort=sort)
    cf = ConsoleFilter(base=base, reason=(form["reason"] or "").strip()[:200] or None,
                       responsible_id=_int(form["responsible"]), no_responsible=form["responsible"] == "none",
                       open_only=form["open"] == "1",
                       urgent=form["urgent"] == "1")
    return cf, form


def query_string(form: dict, **changes) -> list[tuple[str, str]]:
    """The form's values as query pairs (for links: the next page, the exports, the Monitor's cells)."""
    merged = {**form, **changes}
    pairs = []
    for key, value in merged.items():
        if isinstance(value, (list, tuple)):
            pairs.extend((key, str(v)) for v in value)
        elif value not in (None, ""):
            pairs.append((key, str(value)))
    return pairs


# The Monitor's links: a column's own filter, on top of the form's (the Monitor's) filters and the row's key.
COLUMN_FILTERS = {"open": {"open": "1"}, "overdue": {"overdue": "1"}, "urgent": {"urgent": "1"},
                  "unassigned": {"assignee": "none", "open": "1"}, "accepted": {"status": ["accepted"], "open": "1"}}
# What the Monitor does not filter on is reset, so that the journal lists exactly the requests a figure counts.
NOT_MONITOR_FILTERS = {"open": "", "overdue": "", "urgent": "", "status": [], "q": ""}
ROW_FILTERS = {"work_type": "work_type", "reason": "reason", "executor": "assignee", "responsible": "responsible",
               "city": "city", "complex": "complex", "building": "building"}
NONE_VALUE = {"executor": "none", "responsible": "none"}  # the rows without a key the journal can filter on


def monitor_hrefs(form: dict, journal_url: str):
    """``href(column, kind=None, key=None)``: the journal's address for a Monitor figure: a tile (no kind) or a
    breakdown's cell (kind and the row's key); None for a row the journal cannot select (no reason, no building, no
    complex). The query of each (column, row filter) is encoded once and the row's key appended: a Monitor page has
    ~500 figures, and encoding the whole form for each one took ~40 ms a view at 1M requests (bench/console.py)."""
    bases: dict[tuple[str, str | None], str] = {}

    def base(column: str, param: str | None) -> str:
        found = bases.get((column, param))
        if found is None:
            changes: dict = {**NOT_MONITOR_FILTERS, **COLUMN_FILTERS[column]}
            if param is not None:
                changes[param] = ""  # the row's key is appended after, as the only value of its filter
            found = bases[(column, param)] = journal_url + "?" + urlencode(query_string(form, **changes))
        return found

    def href(column: str, kind: str | None = None, key=None) -> str | None:
        if kind is None:
            return base(column, None)
        value = key if key not in (None, "") else NONE_VALUE.get(kind)
        if value is None:
            return None
        param = ROW_FILTERS[kind]
        start = base(column, param)
        return start + ("" if start.endswith("?") else "&") + urlencode([(param, str(value))])

    return href
