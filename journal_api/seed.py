"""The demo organisation: places, people, responsibilities and rotas, from seed_demo.json.

Idempotent: every object is looked up before it is created, so a second run on the same day changes nothing. Rotas
are generated for the coming weeks from a fixed epoch, so a later run only adds the shifts of days not yet covered.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from importlib import resources

import sqlalchemy as sa

from .bootstrap import Container
from .domain.errors import NotFound
from .domain.events import Actor
from .domain.registry import Absence, Organisation, Shift
from .storage import tables as t

SEED_ACTOR = Actor.system("seed")


@dataclass
class SeedReport:
    """How many objects of each kind a run created (0 everywhere on a repeated run)."""

    org_code: str
    created: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, count: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + count

    @property
    def changed(self) -> bool:
        return any(self.created.values())


def load_demo_data() -> dict:
    return json.loads(resources.files(__package__).joinpath("seed_demo.json").read_text(encoding="utf-8"))


def seed_demo(c: Container, data: dict | None = None, *, today: date | None = None) -> SeedReport:
    data = data or load_demo_data()
    org, created = _organisation(c, data["organisation"])
    report = SeedReport(org.code)
    if created:
        report.add("organisations")
    buildings = _buildings(c, org, data["buildings"], report)
    staff = _staff(c, org, data["staff"], report)
    _responsibilities(c, org, data["responsibilities"], buildings, staff, report)
    _residents(c, org, data["residents"], buildings, report)
    first_day = _week_start(datetime.now(org.tz).date() if today is None else today)
    _absences(c, org, data["absences"], staff, first_day, report)
    _shifts(c, org, data, staff, first_day, report)
    from .service.console_auth import seed_demo_logins  # the console's demo logins (issue 7)
    seed_demo_logins(c, org.code, staff, report)
    return report


def _organisation(c: Container, spec: dict) -> tuple[Organisation, bool]:
    try:
        return c.registry.organisation_by_code(spec["code"]), False
    except NotFound:
        return c.registry.create_organisation(spec["code"], spec["name"], spec["timezone"]), True


def _buildings(c: Container, org: Organisation, specs: list[dict], report: SeedReport) -> dict[str, int]:
    known = {b.code for b in c.registry.list_buildings(org.id)}
    ids = {}
    for spec in specs:
        building = c.registry.upsert_building(org.id, SEED_ACTOR, spec)
        ids[building.code] = building.id
        if building.code not in known:
            report.add("buildings")
    return ids


def _staff(c: Container, org: Organisation, specs: list[dict], report: SeedReport) -> dict[str, int]:
    known = {s.external_id for s in c.registry.list_staff(org.id)}
    ids = {}
    for spec in specs:
        fields = {k: v for k, v in spec.items() if k != "rota"}
        member = c.registry.upsert_staff(org.id, SEED_ACTOR, fields)
        ids[spec["external_id"]] = member.id
        if spec["external_id"] not in known:
            report.add("staff")
    return ids


def _responsibilities(c: Container, org: Organisation, specs: list[dict], buildings: dict[str, int],
                      staff: dict[str, int], report: SeedReport) -> None:
    existing = {(r.building_id, r.work_type, r.staff_id) for r in c.registry.list_responsibilities(org.id)}
    for spec in specs:
        for code in spec["buildings"]:
            for work_type in spec["work_types"]:
                key = (buildings[code], work_type, staff[spec["staff"]])
                if key not in existing:
                    c.registry.add_responsibility(org.id, SEED_ACTOR, *key, priority=spec["priority"])
                    existing.add(key)
                    report.add("responsibilities")


def _residents(c: Container, org: Organisation, specs: list[dict], buildings: dict[str, int],
               report: SeedReport) -> None:
    for spec in specs:
        building_id = buildings[spec["building"]]
        found = c.registry.find_residents(org.id, spec["phone"])
        if any(r.building_id == building_id and r.apartment == spec["apartment"] for r in found):
            continue
        c.registry.add_resident(org.id, SEED_ACTOR, spec["phone"], name=spec["name"], building_id=building_id,
                                apartment=spec["apartment"])
        report.add("residents")


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _absences(c: Container, org: Organisation, specs: list[dict], staff: dict[str, int], first_day: date,
              report: SeedReport) -> None:
    """One absence of each kind per person: a later run (another week) does not add a second vacation."""
    with c.uow() as uow:
        for spec in specs:
            staff_id = staff[spec["staff"]]
            exists = uow.session.scalar(sa.select(t.absences.c.id).where(
                t.absences.c.staff_id == staff_id, t.absences.c.kind == spec["kind"]).limit(1))
            if exists:
                continue
            starts = _local(org, first_day + timedelta(days=spec["starts_in_days"]), time(0, 0))
            absence = Absence(org.id, staff_id, starts, starts + timedelta(days=spec["days"]), spec["kind"])
            uow.session.add(absence)
            uow.session.flush()
            uow.audit(org.id, SEED_ACTOR, "absence", absence.id, "create",
                      {"staff_id": staff_id, "kind": absence.kind, "starts_at": starts})
            report.add("absences")
        uow.commit()


def _shifts(c: Container, org: Organisation, data: dict, staff: dict[str, int], first_day: date,
            report: SeedReport) -> None:
    epoch = date.fromisoformat(data["schedule"]["rota_epoch"])
    days = [first_day + timedelta(days=n) for n in range(7 * data["schedule"]["weeks"])]
    with c.uow() as uow:
        s = uow.session
        for spec in data["staff"]:
            if "rota" not in spec:
                continue
            staff_id = staff[spec["external_id"]]
            away = list(s.execute(sa.select(t.absences.c.starts_at, t.absences.c.ends_at)
                                  .where(t.absences.c.staff_id == staff_id)))
            have = set(s.scalars(sa.select(t.shifts.c.starts_at).where(t.shifts.c.staff_id == staff_id)))
            added = 0
            for starts, ends in _rota(org, spec["rota"], days, epoch):
                if starts in have or any(a_start < ends and starts < a_end for a_start, a_end in away):
                    continue
                s.add(Shift(org.id, staff_id, starts, ends, spec["rota"].get("kind", "shift")))
                added += 1
            if added:
                uow.audit(org.id, SEED_ACTOR, "shift", None, "create", {"staff_id": staff_id, "count": added})
                report.add("shifts", added)
        uow.commit()


def _rota(org: Organisation, rota: dict, days: list[date], epoch: date):
    """(starts_at, ends_at) of the rota's shifts on the given days: every N days from the epoch (N=4 is "сутки
    через трое"), or on the given weekdays (0 = Monday)."""
    start = time.fromisoformat(rota["start"])
    for day in days:
        if "every_days" in rota:
            works = (day - epoch).days % rota["every_days"] == rota["offset_days"]
        else:
            works = day.weekday() in rota["weekdays"]
        if works:
            starts = _local(org, day, start)
            yield starts, starts + timedelta(hours=rota["hours"])


def _local(org: Organisation, day: date, at: time) -> datetime:
    """A wall-clock time in the organisation's zone, as an aware UTC datetime (what the database returns)."""
    return datetime.combine(day, at, tzinfo=org.tz).astimezone(timezone.utc)
