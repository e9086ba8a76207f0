"""Schemas of the registry endpoints: buildings, places, staff, work types, responsibilities, residents.

Counts and flags are strict: "12", 12.5 or true is not an apartment count. Ranges are checked by the domain.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ..domain.worktypes import ROLES
from .request_schemas import BuildingRef, StaffRef, Strict

WholeNumber = Annotated[int, Field(strict=True)]
Role = Literal[ROLES]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Short = Annotated[str, Field(min_length=1, max_length=20)]


class Read(BaseModel):
    """An output schema read from the domain object's attributes."""

    model_config = ConfigDict(from_attributes=True)


# -- buildings ---------------------------------------------------------------------------------------------------
class BuildingIn(Strict):
    building_id: str = Field(min_length=1, max_length=64, description="The organisation's own code")
    city: Text
    complex: Text | None = None
    street: Text
    house: Short
    korpus: Short | None = None
    entrances: WholeNumber
    floors: WholeNumber
    apartments: WholeNumber


class BuildingPatch(Strict):
    city: Text | None = None
    complex: Text | None = Field(default=None, description="null takes the building out of its complex")
    street: Text | None = None
    house: Short | None = None
    korpus: Short | None = None
    entrances: WholeNumber | None = None
    floors: WholeNumber | None = None
    apartments: WholeNumber | None = None
    active: StrictBool | None = None


class BuildingQuery(Strict):
    city_id: int | None = None
    complex_id: int | None = None


class BuildingOut(BuildingRef):
    city_id: int
    complex_id: int | None
    street: str
    house: str
    korpus: str | None
    entrances: int
    floors: int
    apartments: int
    active: bool


class CityOut(Read):
    id: int
    name: str


class ComplexOut(Read):
    id: int
    city_id: int
    name: str


# -- staff -------------------------------------------------------------------------------------------------------
class StaffIn(Strict):
    full_name: Text
    role: Role
    phone: str = Field(description="Any common form; stored in E.164")
    sip_account: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=64)


class StaffPatch(Strict):
    full_name: Text | None = None
    role: Role | None = None
    phone: str | None = None
    sip_account: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=64)
    active: StrictBool | None = Field(default=None, description="false deactivates; staff are never deleted")


class StaffQuery(Strict):
    role: Role | None = None


class StaffOut(Read):
    id: int
    full_name: str
    short_name: str
    role: str
    phone: str
    sip_account: str | None
    email: str | None
    external_id: str | None
    active: bool


# -- work types --------------------------------------------------------------------------------------------------
class WorkTypeIn(Strict):
    code: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=100)


class WorkTypePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    active: StrictBool | None = None


class WorkTypeOut(Read):
    id: int
    code: str
    name: str
    standard: bool
    active: bool


# -- responsibilities --------------------------------------------------------------------------------------------
class ResponsibilityIn(Strict):
    building_id: int
    work_type: str
    staff_id: int
    priority: WholeNumber = Field(default=1, description="1 is the first choice")


class ResponsibilityQuery(Strict):
    building_id: int | None = None
    work_type: str | None = None


class ResponsibilityOut(BaseModel):
    id: int
    building: BuildingRef
    work_type: str
    staff: StaffRef
    priority: int


# -- residents ---------------------------------------------------------------------------------------------------
class ResidentIn(Strict):
    phone: str
    name: Text | None = None
    building_id: int | None = None
    apartment: WholeNumber | None = None


class ResidentQuery(Strict):
    phone: str


class ResidentOut(Read):
    id: int
    phone: str
    name: str | None
    building_id: int | None
    apartment: int | None
