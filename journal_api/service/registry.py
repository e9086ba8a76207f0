"""The registry: organisations, places, staff, work types and responsibilities. Every write is audited."""
from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..catalogue import label
from ..domain.errors import Conflict, CrossOrganisation, Forbidden, NotFound, UnknownReference, ValidationError
from ..domain.events import Actor, DomainEvent
from ..domain.phones import normalize_phone
from ..domain.registry import (Building, City, HousingComplex, Organisation, Resident, Responsibility, Staff,
                               WorkType)
from ..domain.worktypes import STANDARD_WORK_TYPES
from ..storage import tables as t
from .uow import UnitOfWork

ADMINS = ("admin", "manager", "system")


def require_role(actor: Actor, roles=ADMINS) -> None:
    if actor.role not in roles:
        raise Forbidden(f"The role '{actor.role}' cannot change the registry; ask an admin or a manager.")


class RegistryService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]):
        self.uow = uow_factory

    # -- organisations -------------------------------------------------------------------------------------------
    def create_organisation(self, code: str, name: str, timezone: str = "Europe/Moscow") -> Organisation:
        with self.uow() as uow:
            s = uow.session
            if s.scalar(sa.select(t.organisations.c.id).where(t.organisations.c.code == code)):
                raise Conflict(f"Organisation '{code}' already exists.", field="code")
            org = Organisation(code, name, timezone)
            s.add(org)
            s.flush()
            s.execute(sa.insert(t.counters).values(org_id=org.id, name="request", value=0))
            for wt in STANDARD_WORK_TYPES:
                s.add(WorkType(org.id, wt, label("work_types", wt), standard=True))
            uow.audit(org.id, Actor.system(), "organisation", org.id, "create", {"code": code, "name": name})
            uow.commit()
            return org

    def organisation_by_code(self, code: str) -> Organisation:
        with self.uow() as uow:
            org = uow.session.scalar(sa.select(Organisation).where(t.organisations.c.code == code))
            if org is None:
                raise NotFound(f"Organisation '{code}' does not exist.")
            return org

    # -- places --------------------------------------------------------------------------------------------------
    def upsert_building(self, org_id: int, actor: Actor, data: dict, *, uow: UnitOfWork | None = None) -> Building:
        """Create a building, or update the one with the same code. ``data`` uses the import columns."""
        require_role(actor)
        if uow is not None:
            return self._upsert_building(uow, org_id, actor, data)
        with self.uow() as uow:
            building = self._upsert_building(uow, org_id, actor, data)
            uow.commit()
            return _reloaded(uow, building)

    def create_building(self, org_id: int, actor: Actor, data: dict) -> Building:
        """Create a building; a code the organisation already uses is a conflict, not an update."""
        require_role(actor)
        with self.uow() as uow:
            building = self._upsert_building(uow, org_id, actor, data, create_only=True)
            uow.commit()
            return _reloaded(uow, building)

    def _upsert_building(self, uow: UnitOfWork, org_id: int, actor: Actor, data: dict, *,
                         create_only: bool = False) -> Building:
        s = uow.session
        city = _get_or_create(s, City, org_id, name=_required(data, "city"))
        complex_ = None
        if (data.get("complex") or "").strip():
            complex_ = _get_or_create(s, HousingComplex, org_id, city_id=city.id, name=data["complex"].strip())
        code = str(_required(data, "building_id")).strip()
        building = s.scalars(sa.select(Building).where(t.buildings.c.org_id == org_id,
                                                       t.buildings.c.code == code)).unique().one_or_none()
        fields = {k: data.get(k) for k in ("street", "house", "korpus", "entrances", "floors", "apartments")}
        if building is None:
            building = Building(org_id, code, city.id, fields.pop("street"), fields.pop("house"),
                                complex_id=complex_.id if complex_ else None, **fields)
            s.add(building)
            s.flush()
            uow.audit(org_id, actor, "building", building.id, "create", {"code": code, **data})
        elif create_only:
            raise Conflict(f"Building code '{code}' is already used by building {building.id}; change that "
                           "building instead, or choose another code.", field="building_id")
        else:
            changes = building.update(city_id=city.id, complex_id=complex_.id if complex_ else None, **fields)
            if changes:
                uow.audit(org_id, actor, "building", building.id, "update", changes)
        return building

    def get_building(self, org_id: int, building_id: int) -> Building:
        with self.uow() as uow:
            return _owned(uow, Building, org_id, building_id, "Building")

    def list_buildings(self, org_id: int, *, city_id=None, complex_id=None) -> list[Building]:
        with self.uow() as uow:
            stmt = sa.select(Building).where(t.buildings.c.org_id == org_id).order_by(t.buildings.c.code)
            if city_id is not None:
                stmt = stmt.where(t.buildings.c.city_id == city_id)
            if complex_id is not None:
                stmt = stmt.where(t.buildings.c.complex_id == complex_id)
            return list(uow.session.scalars(stmt).unique())

    def update_building(self, org_id: int, actor: Actor, building_id: int, changes: dict) -> Building:
        require_role(actor)
        with self.uow() as uow:
            building = _owned(uow, Building, org_id, building_id, "Building")
            data = {"building_id": building.code, "city": changes.pop("city", building.city.name),
                    "complex": changes.pop("complex", building.complex.name if building.complex else None)}
            for k in ("street", "house", "korpus", "entrances", "floors", "apartments"):
                data[k] = changes.pop(k, getattr(building, k))
            if "active" in changes and (activity := building.update(active=changes.pop("active"))):
                uow.audit(org_id, actor, "building", building.id, "update", activity)
            if changes:
                raise ValidationError(f"Unknown building fields: {', '.join(sorted(changes))}.")
            building = self._upsert_building(uow, org_id, actor, data)
            uow.commit()
            return _reloaded(uow, building)

    def delete_building(self, org_id: int, actor: Actor, building_id: int) -> None:
        require_role(actor)
        with self.uow() as uow:
            building = _owned(uow, Building, org_id, building_id, "Building")
            used = uow.session.scalar(sa.select(t.requests.c.id).where(t.requests.c.building_id == building.id)
                                      .limit(1))
            if used:
                raise Conflict("The building has requests in the journal; deactivate it instead of deleting.",
                               field="building")
            uow.session.delete(building)
            uow.audit(org_id, actor, "building", building_id, "delete", {"code": building.code})
            uow.commit()

    def cities(self, org_id: int) -> list[City]:
        with self.uow() as uow:
            return list(uow.session.scalars(sa.select(City).where(t.cities.c.org_id == org_id)
                                            .order_by(t.cities.c.name)))

    def complexes(self, org_id: int) -> list[HousingComplex]:
        with self.uow() as uow:
            return list(uow.session.scalars(sa.select(HousingComplex).where(t.complexes.c.org_id == org_id)
                                            .order_by(t.complexes.c.name)))

    # -- residents -----------------------------------------------------------------------------------------------
    def add_resident(self, org_id: int, actor: Actor, phone: str, *, name=None, building_id=None,
                     apartment=None) -> Resident:
        require_role(actor, ADMINS + ("dispatcher",))
        with self.uow() as uow:
            org = uow.session.get(Organisation, org_id)
            phone = normalize_phone(phone, region=org.phone_region)
            if building_id is not None:
                _owned(uow, Building, org_id, building_id, "Building").check_place(apartment, None, None)
            resident = Resident(org_id, phone, name=name, building_id=building_id, apartment=apartment)
            uow.session.add(resident)
            _flush_unique(uow, "This resident is already registered at that place.")
            uow.audit(org_id, actor, "resident", resident.id, "create", {"phone": phone})
            uow.commit()
            return resident

    def find_residents(self, org_id: int, phone: str) -> list[Resident]:
        with self.uow() as uow:
            org = uow.session.get(Organisation, org_id)
            phone = normalize_phone(phone, region=org.phone_region)
            return list(uow.session.scalars(sa.select(Resident).where(t.residents.c.org_id == org_id,
                                                                      t.residents.c.phone == phone)
                                            .order_by(t.residents.c.id)))

    # -- staff ---------------------------------------------------------------------------------------------------
    def upsert_staff(self, org_id: int, actor: Actor, data: dict, *, uow: UnitOfWork | None = None) -> Staff:
        require_role(actor)
        if uow is not None:
            return self._upsert_staff(uow, org_id, actor, data)
        with self.uow() as uow:
            staff = self._upsert_staff(uow, org_id, actor, data)
            uow.commit()
            return staff

    def create_staff(self, org_id: int, actor: Actor, data: dict) -> Staff:
        """Create a staff member; a phone or external id already on file is a conflict, not an update."""
        require_role(actor)
        with self.uow() as uow:
            staff = self._upsert_staff(uow, org_id, actor, data, create_only=True)
            uow.commit()
            return staff

    def _upsert_staff(self, uow: UnitOfWork, org_id: int, actor: Actor, data: dict, *,
                      create_only: bool = False) -> Staff:
        s = uow.session
        org = s.get(Organisation, org_id)
        phone = normalize_phone(data.get("phone"), region=org.phone_region)
        external = (str(data.get("external_id") or "").strip()) or None
        existing = None
        if external:
            existing = s.scalar(sa.select(Staff).where(t.staff.c.org_id == org_id,
                                                       t.staff.c.external_id == external))
        if existing is None:
            existing = s.scalar(sa.select(Staff).where(t.staff.c.org_id == org_id, t.staff.c.phone == phone))
        fresh = Staff(org_id, data.get("full_name"), data.get("role"), phone, sip_account=data.get("sip_account"),
                      email=data.get("email"), external_id=external)
        _sip_account_free(uow, org_id, fresh.sip_account, existing.id if existing is not None else None)
        if existing is None:
            s.add(fresh)
            _flush_unique(uow, "Another staff member already has this phone, SIP account or external id.")
            uow.audit(org_id, actor, "staff", fresh.id, "create", {"full_name": fresh.full_name, "role": fresh.role})
            return fresh
        if create_only:
            which = "external_id" if external and existing.external_id == external else "phone"
            raise Conflict(f"Staff member {existing.id} already has this {which}; change that record instead.",
                           field=which)
        changes = {}
        for name in ("full_name", "role", "phone", "sip_account", "email", "external_id"):
            new = getattr(fresh, name)
            if getattr(existing, name) != new:
                changes[name] = (getattr(existing, name), new)
                setattr(existing, name, new)
        if "active" in data and bool(data["active"]) != existing.active:
            changes["active"] = (existing.active, bool(data["active"]))
            existing.active = bool(data["active"])
        _flush_unique(uow, "Another staff member already has this phone, SIP account or external id.")
        if changes:
            uow.audit(org_id, actor, "staff", existing.id, "update", changes)
            if "active" in changes or "role" in changes:
                uow.emit(DomainEvent("staff.changed", org_id, None, {"staff_id": existing.id,
                                                                    "fields": sorted(changes)}))
        return existing

    def get_staff(self, org_id: int, staff_id: int) -> Staff:
        with self.uow() as uow:
            return _owned(uow, Staff, org_id, staff_id, "Staff member")

    def list_staff(self, org_id: int, *, role: str | None = None) -> list[Staff]:
        with self.uow() as uow:
            stmt = sa.select(Staff).where(t.staff.c.org_id == org_id).order_by(t.staff.c.full_name)
            if role:
                stmt = stmt.where(t.staff.c.role == role)
            return list(uow.session.scalars(stmt))

    def update_staff(self, org_id: int, actor: Actor, staff_id: int, changes: dict) -> Staff:
        require_role(actor)
        with self.uow() as uow:
            staff = _owned(uow, Staff, org_id, staff_id, "Staff member")
            data = {k: getattr(staff, k) for k in ("full_name", "role", "phone", "sip_account", "email",
                                                   "external_id", "active")}
            unknown = set(changes) - set(data)
            if unknown:
                raise ValidationError(f"Unknown staff fields: {', '.join(sorted(unknown))}.")
            data.update(changes)
            # Match on the id, not on phone/external id: fields of this record may be the ones that change.
            fresh = Staff(org_id, data["full_name"], data["role"],
                          normalize_phone(data["phone"], region=uow.session.get(Organisation, org_id).phone_region),
                          sip_account=data["sip_account"], email=data["email"], external_id=data["external_id"])
            _sip_account_free(uow, org_id, fresh.sip_account, staff.id)
            diff = {}
            for name in ("full_name", "role", "phone", "sip_account", "email", "external_id"):
                if getattr(staff, name) != getattr(fresh, name):
                    diff[name] = (getattr(staff, name), getattr(fresh, name))
                    setattr(staff, name, getattr(fresh, name))
            if bool(data["active"]) != staff.active:
                diff["active"] = (staff.active, bool(data["active"]))
                staff.active = bool(data["active"])
            _flush_unique(uow, "Another staff member already has this phone, SIP account or external id.")
            if diff:
                uow.audit(org_id, actor, "staff", staff.id, "update", diff)
                uow.emit(DomainEvent("staff.changed", org_id, None, {"staff_id": staff.id, "fields": sorted(diff)}))
            uow.commit()
            return staff

    # -- work types ----------------------------------------------------------------------------------------------
    def list_work_types(self, org_id: int) -> list[WorkType]:
        with self.uow() as uow:
            return list(uow.session.scalars(sa.select(WorkType).where(t.work_types.c.org_id == org_id)
                                            .order_by(t.work_types.c.id)))

    def create_work_type(self, org_id: int, actor: Actor, code: str, name: str) -> WorkType:
        require_role(actor)
        with self.uow() as uow:
            wt = WorkType(org_id, code, name)
            uow.session.add(wt)
            _flush_unique(uow, f"Work type '{code}' already exists.")
            uow.audit(org_id, actor, "work_type", wt.id, "create", {"code": code, "name": name})
            uow.commit()
            return wt

    def update_work_type(self, org_id: int, actor: Actor, code: str, *, name=None, active=None) -> WorkType:
        require_role(actor)
        with self.uow() as uow:
            wt = _work_type(uow, org_id, code)
            changes = {}
            if name is not None and name != wt.name:
                changes["name"] = (wt.name, WorkType(org_id, code, name).name)
                wt.name = changes["name"][1]
            if active is not None and bool(active) != wt.active:
                changes["active"] = (wt.active, bool(active))
                wt.active = bool(active)
            if changes:
                uow.audit(org_id, actor, "work_type", wt.id, "update", changes)
            uow.commit()
            return wt

    def delete_work_type(self, org_id: int, actor: Actor, code: str) -> None:
        require_role(actor)
        with self.uow() as uow:
            wt = _work_type(uow, org_id, code)
            if wt.standard:
                raise Conflict(f"'{code}' is a standard work type; deactivate it instead of deleting.")
            used = uow.session.scalar(sa.select(t.requests.c.id).where(t.requests.c.org_id == org_id,
                                                                       t.requests.c.work_type == code).limit(1))
            if used:
                raise Conflict(f"Requests use the work type '{code}'; deactivate it instead of deleting.")
            uow.session.delete(wt)
            uow.audit(org_id, actor, "work_type", wt.id, "delete", {"code": code})
            uow.commit()

    # -- responsibilities ----------------------------------------------------------------------------------------
    def list_responsibilities(self, org_id: int, *, building_id=None, work_type=None) -> list[Responsibility]:
        with self.uow() as uow:
            c = t.responsibilities.c
            stmt = sa.select(Responsibility).where(c.org_id == org_id)
            if building_id is not None:
                stmt = stmt.where(c.building_id == building_id)
            if work_type:
                stmt = stmt.where(c.work_type == work_type)
            return list(uow.session.scalars(stmt.order_by(c.building_id, c.work_type, c.priority)).unique())

    def add_responsibility(self, org_id: int, actor: Actor, building_id: int, work_type: str, staff_id: int,
                           priority: int = 1) -> Responsibility:
        require_role(actor)
        with self.uow() as uow:
            _owned(uow, Building, org_id, building_id, "Building")
            staff = _owned(uow, Staff, org_id, staff_id, "Staff member")
            if staff.role != "technician":
                raise ValidationError(f"{staff.full_name} is a {staff.role}, not a technician.", field="staff_id")
            _work_type(uow, org_id, work_type)
            resp = Responsibility(org_id, building_id, work_type, staff_id, priority)
            uow.session.add(resp)
            _flush_unique(uow, "This technician is already responsible for that building and work type.")
            uow.audit(org_id, actor, "responsibility", resp.id, "create",
                      {"building_id": building_id, "work_type": work_type, "staff_id": staff_id})
            uow.commit()
            return _reloaded(uow, resp)

    def delete_responsibility(self, org_id: int, actor: Actor, responsibility_id: int) -> None:
        require_role(actor)
        with self.uow() as uow:
            resp = _owned(uow, Responsibility, org_id, responsibility_id, "Responsibility")
            uow.session.delete(resp)
            uow.audit(org_id, actor, "responsibility", responsibility_id, "delete", {})
            uow.commit()


def _required(data: dict, name: str):
    value = data.get(name)
    if value is None or not str(value).strip():
        raise ValidationError(f"'{name}' is required.", field=name)
    return value


def _get_or_create(session, cls, org_id: int, **keys):
    table = sa.inspect(cls).local_table
    stmt = sa.select(cls).where(table.c.org_id == org_id, *[table.c[k] == v for k, v in keys.items()])
    found = session.scalar(stmt)
    if found is None:
        found = cls(org_id, *keys.values())
        session.add(found)
        session.flush()
    return found


def _owned(uow: UnitOfWork, cls, org_id: int, obj_id: int, what: str):
    obj = uow.session.get(cls, obj_id)
    if obj is None:
        raise NotFound(f"{what} {obj_id} does not exist.")
    if obj.org_id != org_id:
        raise CrossOrganisation(f"{what} {obj_id} belongs to another organisation.")
    return obj


def _work_type(uow: UnitOfWork, org_id: int, code: str) -> WorkType:
    wt = uow.session.scalar(sa.select(WorkType).where(t.work_types.c.org_id == org_id, t.work_types.c.code == code))
    if wt is None:
        raise UnknownReference(f"Work type '{code}' does not exist in your organisation.", field="work_type")
    return wt


def _reloaded(uow: UnitOfWork, obj):
    """Reload a committed object with its eager relationships, so it can be read after the session closes."""
    uow.session.refresh(obj)
    return obj


def _flush_unique(uow: UnitOfWork, message: str) -> None:
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def _sip_account_free(uow: UnitOfWork, org_id: int, account: str | None, staff_id: int | None) -> None:
    """A SIP account is a login at the installation's one registrar (Kamailio), so it is unique across the
    organisations, not only within one (the table's constraint): refused here, on the write path."""
    if not account:
        return
    st = t.staff.c
    taken = uow.session.scalar(sa.select(st.id).where(st.sip_account == account, st.org_id != org_id).limit(1))
    if taken is not None and taken != staff_id:
        raise Conflict(f"SIP account '{account}' is already used in another organisation (SIP accounts are logins "
                       "at the one registrar of this installation); choose another.", field="sip_account")
