"""Registry endpoints: buildings, cities and complexes, staff, work types, responsibilities, residents.

Everyone but technicians reads the registry; admins and managers change it (the service checks that too).
"""
from __future__ import annotations

from flask import Blueprint

from ..domain.registry import Building, Responsibility
from . import registry_schemas as s
from .core import ADMIN_ROLES, STAFF_ROLES, endpoint, principal, services
from .dump import building_ref

bp = Blueprint("registry", __name__)
TAG = "registry"
BUILDING_FIELDS = ("city_id", "complex_id", "street", "house", "korpus", "entrances", "floors", "apartments",
                   "active")


def _registry():
    return services().registry


def building_dict(b: Building) -> dict:
    return {**building_ref(b), **{name: getattr(b, name) for name in BUILDING_FIELDS}}


def responsibility_dict(r: Responsibility) -> dict:
    return {"id": r.id, "building": building_ref(r.building), "work_type": r.work_type, "priority": r.priority,
            "staff": {"id": r.staff.id, "full_name": r.staff.full_name, "phone": r.staff.phone}}


# -- buildings and places ----------------------------------------------------------------------------------------
@endpoint(bp, "GET", "/buildings", summary="List buildings", roles=STAFF_ROLES, query=s.BuildingQuery,
          out=list[s.BuildingOut], tag=TAG)
def list_buildings(query: s.BuildingQuery):
    found = _registry().list_buildings(principal().org_id, **query.model_dump())
    return [building_dict(b) for b in found]


@endpoint(bp, "POST", "/buildings", summary="Add a building (its code must be new)", roles=ADMIN_ROLES,
          body=s.BuildingIn, out=s.BuildingOut, status=201, tag=TAG)
def create_building(body: s.BuildingIn):
    who = principal()
    return building_dict(_registry().create_building(who.org_id, who.actor, body.model_dump()))


@endpoint(bp, "GET", "/buildings/{building_id}", summary="Get a building", roles=STAFF_ROLES, out=s.BuildingOut,
          tag=TAG)
def get_building(building_id: int):
    return building_dict(_registry().get_building(principal().org_id, building_id))


@endpoint(bp, "PATCH", "/buildings/{building_id}", summary="Change a building (active=false retires it)",
          roles=ADMIN_ROLES, body=s.BuildingPatch, out=s.BuildingOut, tag=TAG)
def patch_building(building_id: int, body: s.BuildingPatch):
    who = principal()
    changes = body.model_dump(exclude_unset=True)
    return building_dict(_registry().update_building(who.org_id, who.actor, building_id, changes))


@endpoint(bp, "DELETE", "/buildings/{building_id}", summary="Delete a building no request refers to",
          roles=ADMIN_ROLES, status=204, tag=TAG)
def delete_building(building_id: int):
    who = principal()
    _registry().delete_building(who.org_id, who.actor, building_id)


@endpoint(bp, "GET", "/cities", summary="List cities (ids for the request filters)", roles=STAFF_ROLES,
          out=list[s.CityOut], tag=TAG)
def list_cities():
    return _registry().cities(principal().org_id)


@endpoint(bp, "GET", "/complexes", summary="List housing complexes (ids for the request filters)",
          roles=STAFF_ROLES, out=list[s.ComplexOut], tag=TAG)
def list_complexes():
    return _registry().complexes(principal().org_id)


# -- staff -------------------------------------------------------------------------------------------------------
@endpoint(bp, "GET", "/staff", summary="List staff", roles=STAFF_ROLES, query=s.StaffQuery,
          out=list[s.StaffOut], tag=TAG)
def list_staff(query: s.StaffQuery):
    return _registry().list_staff(principal().org_id, role=query.role)


@endpoint(bp, "POST", "/staff", summary="Add a staff member (phone in any common form, stored in E.164)",
          roles=ADMIN_ROLES, body=s.StaffIn, out=s.StaffOut, status=201, tag=TAG)
def create_staff(body: s.StaffIn):
    who = principal()
    return _registry().create_staff(who.org_id, who.actor, body.model_dump())


@endpoint(bp, "GET", "/staff/{staff_id}", summary="Get a staff member", roles=STAFF_ROLES, out=s.StaffOut,
          tag=TAG)
def get_staff(staff_id: int):
    return _registry().get_staff(principal().org_id, staff_id)


@endpoint(bp, "PATCH", "/staff/{staff_id}", summary="Change a staff member (active=false deactivates)",
          roles=ADMIN_ROLES, body=s.StaffPatch, out=s.StaffOut, tag=TAG)
def patch_staff(staff_id: int, body: s.StaffPatch):
    who = principal()
    return _registry().update_staff(who.org_id, who.actor, staff_id, body.model_dump(exclude_unset=True))


# -- work types --------------------------------------------------------------------------------------------------
@endpoint(bp, "GET", "/work-types", summary="List work types", roles=STAFF_ROLES, out=list[s.WorkTypeOut],
          tag=TAG)
def list_work_types():
    return _registry().list_work_types(principal().org_id)


@endpoint(bp, "POST", "/work-types", summary="Add a work type of the organisation's own", roles=ADMIN_ROLES,
          body=s.WorkTypeIn, out=s.WorkTypeOut, status=201, tag=TAG)
def create_work_type(body: s.WorkTypeIn):
    who = principal()
    return _registry().create_work_type(who.org_id, who.actor, body.code, body.name)


@endpoint(bp, "PATCH", "/work-types/{code}", summary="Rename, deactivate or reactivate a work type",
          roles=ADMIN_ROLES, body=s.WorkTypePatch, out=s.WorkTypeOut, tag=TAG)
def patch_work_type(code: str, body: s.WorkTypePatch):
    who = principal()
    return _registry().update_work_type(who.org_id, who.actor, code, name=body.name, active=body.active)


@endpoint(bp, "DELETE", "/work-types/{code}", summary="Delete an unused work type (not a standard one)",
          roles=ADMIN_ROLES, status=204, tag=TAG)
def delete_work_type(code: str):
    who = principal()
    _registry().delete_work_type(who.org_id, who.actor, code)


# -- responsibilities --------------------------------------------------------------------------------------------
@endpoint(bp, "GET", "/responsibilities", summary="Who is responsible for what", roles=STAFF_ROLES,
          query=s.ResponsibilityQuery, out=list[s.ResponsibilityOut], tag=TAG)
def list_responsibilities(query: s.ResponsibilityQuery):
    found = _registry().list_responsibilities(principal().org_id, **query.model_dump())
    return [responsibility_dict(r) for r in found]


@endpoint(bp, "POST", "/responsibilities", summary="Make a technician responsible for a building and work type",
          roles=ADMIN_ROLES, body=s.ResponsibilityIn, out=s.ResponsibilityOut, status=201, tag=TAG)
def create_responsibility(body: s.ResponsibilityIn):
    who = principal()
    return responsibility_dict(_registry().add_responsibility(who.org_id, who.actor, **body.model_dump()))


@endpoint(bp, "DELETE", "/responsibilities/{responsibility_id}", summary="Remove a responsibility",
          roles=ADMIN_ROLES, status=204, tag=TAG)
def delete_responsibility(responsibility_id: int):
    who = principal()
    _registry().delete_responsibility(who.org_id, who.actor, responsibility_id)


# -- residents ---------------------------------------------------------------------------------------------------
# Dispatchers too: they learn who lives where while taking calls.
@endpoint(bp, "POST", "/residents", summary="Register a resident's phone at a place", roles=STAFF_ROLES,
          body=s.ResidentIn, out=s.ResidentOut, status=201, tag=TAG)
def create_resident(body: s.ResidentIn):
    who = principal()
    return _registry().add_resident(who.org_id, who.actor, **body.model_dump())


@endpoint(bp, "GET", "/residents", summary="Find residents by phone", roles=STAFF_ROLES, query=s.ResidentQuery,
          out=list[s.ResidentOut], tag=TAG)
def find_residents(query: s.ResidentQuery):
    return _registry().find_residents(principal().org_id, query.phone)
