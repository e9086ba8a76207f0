"""The request forms' reason field: a select of the catalogue reasons (titles shown, codes posted) grouped by work
type, beside a text input for a reason in words. Without JavaScript: a catalogue reason chosen wins, else the text.
A catalogue reason brings its work type and urgency unless the dispatcher chose them himself."""
from __future__ import annotations

from ..domain.errors import DomainError
from ..service.deadlines import federal
from . import clabel


def catalogue(code: str | None):
    """The catalogue reason of ``code``, or None (free text, nothing)."""
    return federal().book.reasons.get((code or "").strip())


def reason_groups(work_types: list[tuple[str, str]]) -> list[dict]:
    """The catalogue reasons under each of the organisation's work types (its names, its order): the optgroups."""
    book = federal().book
    groups = []
    for code, name in work_types:
        reasons = [(x.code, x.title) for x in book.reasons_under(code)]
        if reasons:
            groups.append({"code": code, "name": name, "reasons": reasons})
    return groups


def reason_fields(chosen: str | None, text: str | None = None) -> dict:
    """What the two fields show: ``reason`` (the catalogue code selected, or "") and ``reason_text`` (words)."""
    chosen = (chosen or "").strip()
    if catalogue(chosen) is not None:
        return {"reason": chosen, "reason_text": (text or "").strip()}
    return {"reason": "", "reason_text": chosen or (text or "").strip()}


def posted_reason(form) -> str | None:
    """The reason a form posts: the catalogue code chosen, else the words typed (a bare ``reason`` text, as the
    API's clients and older forms post it, is words too), else None."""
    fields = reason_fields(form.get("reason"), form.get("reason_text"))
    return fields["reason"] or fields["reason_text"] or None


def reason_posted(form) -> bool:
    return "reason" in form or "reason_text" in form


def mismatch(reason, work_type: str) -> DomainError:
    text = clabel("form_messages", "reason_work_type").format(
        reason=reason.title, reason_type=clabel("work_types", reason.work_type),
        work_type=clabel("work_types", work_type))
    return DomainError(text, field="reason")


def new_work_type(form, reason: str | None) -> str:
    """The work type of a new request: the one chosen, else the catalogue reason's, else "other"; a catalogue reason
    of another work type than the one chosen is refused."""
    found = catalogue(reason)
    chosen = form.get("work_type") or (found.work_type if found else "other")
    if found is not None and found.work_type != chosen:
        raise mismatch(found, chosen)
    return chosen


def follow_reason(r, changes: dict) -> None:
    """A correction's work type and urgency when the reason changed to a catalogue one: the reason's, unless the
    dispatcher changed them too. A catalogue reason that does not fit the work type is refused."""
    found = catalogue(changes.get("reason", r.reason))
    if found is None:
        return
    work_type = changes.get("work_type", r.work_type)
    if "reason" in changes:
        if found.work_type != work_type and "work_type" not in changes:
            changes["work_type"] = work_type = found.work_type
        if "urgency" not in changes and found.urgency != r.urgency:
            changes["urgency"] = found.urgency
    if found.work_type != work_type:
        raise mismatch(found, work_type)


def edit_values(r, form=None) -> dict:
    """The edit form's values: the request's, or what the dispatcher posted (a refused correction keeps them)."""
    values = {name: getattr(r, name) for name in ("description", "work_type", "urgency", "apartment", "entrance",
                                                 "floor", "caller_name", "caller_phone")}
    values = {k: "" if v is None else str(v) for k, v in values.items()}
    values["building"] = str(r.building.id) if r.building else ""
    values.update(reason_fields(r.reason))
    if form is not None:
        values.update({name: form[name] for name in values if name in form})
        if reason_posted(form):
            values.update(reason_fields(form.get("reason"), form.get("reason_text")))
    return values
