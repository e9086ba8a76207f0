"""The journal: every Monitor filter, free-text search, sort, paging; CSV and XLSX of the current filter; the printable
paper journal of a period (the legal form: date and time, number, address, apartment, caller, problem, assignee,
completion mark)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

from flask import Response, flash, g, redirect, render_template, request, stream_with_context, url_for

from ..catalogue import label
from ..service import console_monitor as cm
from . import clabel, container, data, filters, forms, local, reason_title
from .auth import MANAGERS, signed_in

PAGE = 50
EXPORT_MAX = 100_000
PRINT_MAX = 20_000
DISPATCHER_PRINT_DAYS = 31  # a dispatcher prints his shifts; a longer period (names, phones: 152-ФЗ) is a manager's
COLUMNS = tuple(clabel("export_columns", key) for key in (
    "number", "registered_at", "channel", "address", "apartment", "caller_name", "caller_phone", "work_type", "reason",
    "urgency", "description", "status", "assignee", "due_at", "done_at", "closed_at"))
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cut_note(limit: int) -> str:
    """The last row of an export that stopped at ``limit`` rows (the filter matched more)."""
    return clabel("journal_texts", "export_cut").format(limit=f"{limit:,}".replace(",", " "))


def _capped(uow, org_id: int, cf, notes: list):
    """The rows of the filter, at most EXPORT_MAX; appends the cut note to ``notes`` when there were more."""
    limit = EXPORT_MAX
    for i, r in enumerate(cm.iterate(uow, org_id, cf, max_rows=limit + 1)):
        if i == limit:
            notes.append(cut_note(limit))
            return
        yield r


def _row(r) -> list:
    return [r.number, local(r.registered_at), label("channels", r.channel), data.address(r.building),
            r.apartment or "", r.caller_name or "", r.caller_phone or "", label("work_types", r.work_type),
            reason_title(r.reason), label("urgencies", r.urgency), r.description, label("statuses", r.status),
            r.assignee.full_name if r.assignee else "", local(r.due_at), local(r.done_at),
            local(r.closed_at)]


def _cell_text(value) -> str:
    """Spreadsheet formula injection: a cell that starts like a formula is written as text."""
    text = "" if value is None else str(value)
    if text[:1] in "+-" and text[1:].replace(" ", "").replace("-", "").replace("(", "").replace(")", "").isdigit():
        return text  # a phone number
    return "'" + text if text.startswith(FORMULA) else text


def _choices(org_id: int) -> dict:
    cities, complexes = data.places(org_id)
    reasons = forms.reason_groups(_work_types(org_id))
    return {"reasons": reasons, "reason_codes": {code for grp in reasons for code, _ in grp["reasons"]},
            "cities": cities, "complexes": complexes, "buildings": data.building_choices(org_id),
            "staff": data.staff_choices(org_id), "technicians": data.staff_choices(org_id, "technician"),
            "work_types": _work_types(org_id), "sorts": filters.SORT_LABELS,
            "statuses": ("new", "assigned", "accepted", "postponed", "impossible", "done", "closed", "cancelled")}


def _too_long(cf) -> str | None:
    """Why a dispatcher may not print this period (None: he may): longer than DISPATCHER_PRINT_DAYS, or open."""
    start, end = cf.base.registered_from, cf.base.registered_to
    if start is None:
        return clabel("form_messages", "print_period_open").format(days=DISPATCHER_PRINT_DAYS)
    days = round(((end or container().clock()) - start).total_seconds() / 86400)
    if days > DISPATCHER_PRINT_DAYS:
        return clabel("form_messages", "print_period").format(days=DISPATCHER_PRINT_DAYS, asked=days)
    return None


def _work_types(org_id: int) -> list[tuple[str, str]]:
    return [(w.code, w.name) for w in container().registry.list_work_types(org_id) if w.active]


def routes(bp) -> None:
    @bp.route("/journal")
    @signed_in()
    def journal():
        user = g.user
        cf, form = filters.parse(request.args, user.timezone)
        page = cm.list_page(container().uow, user.org_id, cf, cursor=request.args.get("cursor") or None,
                            limit=PAGE)
        return render_template("journal.html", page=page, form=form, choices=_choices(user.org_id),
                               qs=filters.query_string, cursor=request.args.get("cursor"),
                               export_max=EXPORT_MAX)

    @bp.route("/journal/export.csv")
    @signed_in(*MANAGERS)
    def export_csv():
        user = g.user
        cf, _ = filters.parse(request.args, user.timezone)
        uow = container().uow

        def rows():
            out = io.StringIO()
            writer = csv.writer(out, delimiter=";")
            out.write("\ufeff")  # Excel opens a UTF-8 CSV with Cyrillic only with the BOM
            writer.writerow(COLUMNS)
            notes: list[str] = []
            for r in _capped(uow, user.org_id, cf, notes):
                writer.writerow([_cell_text(v) for v in _row(r)])
                if out.tell() > 64 * 1024:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
            for note in notes:
                writer.writerow([note])
            yield out.getvalue()

        return Response(stream_with_context(rows()), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="journal.csv"'})

    @bp.route("/journal/export.xlsx")
    @signed_in(*MANAGERS)
    def export_xlsx():
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        user = g.user
        cf, _ = filters.parse(request.args, user.timezone)
        book = Workbook(write_only=True)
        sheet = book.create_sheet(clabel("journal_texts", "sheet"))
        sheet.append(list(COLUMNS))
        notes: list[str] = []
        for r in _capped(container().uow, user.org_id, cf, notes):
            cells = []
            for value in _row(r):
                cell = WriteOnlyCell(sheet, value=value if isinstance(value, int) else str(value))
                if not isinstance(value, int):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
                cells.append(cell)
            sheet.append(cells)
        for note in notes:
            sheet.append([note])
        out = io.BytesIO()
        book.save(out)
        return Response(out.getvalue(),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="journal.xlsx"'})

    @bp.route("/journal/print")
    @signed_in()
    def journal_print():
        user = g.user
        args = request.args.copy()
        args["sort"] = "registered_at"
        cf, form = filters.parse(args, user.timezone, default_days=1)
        refused = None if user.role in MANAGERS else _too_long(cf)
        if refused:
            flash(refused, "error")
            return redirect(url_for("console.journal") + "?" + urlencode(filters.query_string(form)))
        rows = list(cm.iterate(container().uow, user.org_id, cf, max_rows=PRINT_MAX))
        end = cf.base.registered_to - timedelta(seconds=1) if cf.base.registered_to else None
        return render_template("journal_print.html", rows=rows, form=form, start=cf.base.registered_from, end=end,
                               address=data.address, truncated=len(rows) >= PRINT_MAX)
