"""Schedule endpoints: shifts, absences and generated rotas. Staff roles write; a technician reads his own."""
from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal

import pydantic
from flask import Blueprint
from pydantic import AwareDatetime, Field

from ..service.schedules import RotaRequest
from .core import ALL_ROLES, MAX_ID, STAFF_ROLES, endpoint, principal, services
from .request_schemas import Strict

bp = Blueprint("schedules", __name__)
TAG = "schedules"
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

# "from" and "to" are not Python names, hence create_model.
PeriodQuery = pydantic.create_model(
    "PeriodQuery", __base__=Strict, staff_id=(Id | None, None),
    **{"from": (AwareDatetime | None, Field(None, description="periods ending after this moment")),
       "to": (AwareDatetime | None, Field(None, description="periods starting before this moment"))})


class ShiftIn(Strict):
    staff_id: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    kind: Literal["shift", "on_call"] = "shift"


class AbsenceIn(Strict):
    staff_id: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    kind: Literal["vacation", "sick_leave", "day_off"]


class PeriodOut(pydantic.BaseModel):
    id: int
    staff_id: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    kind: str


class RotaIn(Strict):
    staff_id: Id
    pattern: Literal["one_day_in_four", "one_day_in_three", "day_shift", "on_call"] | dict = Field(
        description="one_day_in_four (сутки через трое), one_day_in_three (сутки через двое), day_shift (on "
                    "working days of the production calendar), on_call (дежурство на дому), or a pattern object")
    start_date: date = Field(description="the first local day of the period (and of a rota's cycle)")
    end_date: date = Field(description="the last local day of the period")
    start: time = time(8)
    end: time = time(17)
    timezone: str | None = Field(None, description="an IANA zone; default: the organisation's")


def _periods(items) -> list[dict]:
    return [{name: getattr(item, name) for name in PeriodOut.model_fields} for item in items]


def _filters(query) -> dict:
    return {"staff_id": query.staff_id, "start": getattr(query, "from"), "end": getattr(query, "to")}


@endpoint(bp, "GET", "/shifts", summary="List shifts (filters: staff_id, from, to)", roles=ALL_ROLES,
          query=PeriodQuery, out=list[PeriodOut], tag=TAG)
def list_shifts(query):
    who = principal()
    return _periods(services().schedules.list_shifts(who.org_id, who.actor, **_filters(query)))


@endpoint(bp, "POST", "/shifts", summary="Add a shift or an on-call period", roles=STAFF_ROLES, body=ShiftIn,
          out=PeriodOut, status=201, tag=TAG)
def create_shift(body: ShiftIn):
    who = principal()
    shift = services().schedules.add_shift(who.org_id, who.actor, body.staff_id, body.starts_at, body.ends_at,
                                           body.kind)
    return _periods([shift])[0]


@endpoint(bp, "DELETE", "/shifts/{shift_id}", summary="Delete a shift", roles=STAFF_ROLES, status=204, tag=TAG)
def delete_shift(shift_id: int):
    who = principal()
    services().schedules.delete_shift(who.org_id, who.actor, shift_id)


@endpoint(bp, "POST", "/rotas", summary="Generate a person's shifts from a pattern over a period",
          roles=STAFF_ROLES, body=RotaIn, out=list[PeriodOut], status=201, tag=TAG)
def create_rota(body: RotaIn):
    who = principal()
    shifts = services().schedules.generate_rota(who.org_id, who.actor, RotaRequest(**body.model_dump()))
    return _periods(shifts)


@endpoint(bp, "GET", "/absences", summary="List absences (filters: staff_id, from, to)", roles=ALL_ROLES,
          query=PeriodQuery, out=list[PeriodOut], tag=TAG)
def list_absences(query):
    who = principal()
    return _periods(services().schedules.list_absences(who.org_id, who.actor, **_filters(query)))


@endpoint(bp, "POST", "/absences", summary="Record an absence (an absence covering now reassigns the requests)",
          roles=STAFF_ROLES, body=AbsenceIn, out=PeriodOut, status=201, tag=TAG)
def create_absence(body: AbsenceIn):
    who = principal()
    absence = services().schedules.add_absence(who.org_id, who.actor, body.staff_id, body.starts_at, body.ends_at,
                                               body.kind)
    return _periods([absence])[0]


@endpoint(bp, "DELETE", "/absences/{absence_id}", summary="Delete an absence", roles=STAFF_ROLES, status=204,
          tag=TAG)
def delete_absence(absence_id: int):
    who = principal()
    services().schedules.delete_absence(who.org_id, who.actor, absence_id)
