"""Registration's first step, in one query: check what a new request refers to and take its number.

Registration is the journal's hot path (every call, SMS and API client ends in it). The reference check reads the
organisation, whether the work type is active in it, and the building with its city and housing complex, as plain
columns (SQLAlchemy Core); the ORM would cost several times the CPU of the query to load the same four rows. On
PostgreSQL the same statement also takes the request number: the counter's ``UPDATE ... RETURNING`` runs as a
data-modifying CTE, so the row lock of the organisation's counter is taken in the first round trip and held to the
commit, as before. SQLite cannot put an UPDATE in a CTE: there the counter is its own statement.

The rows become domain objects, loaded and unchanged (no extra query, nothing to flush). The organisation is in
the session: the unit of work's later ``session.get(Organisation, id)`` finds it in the identity map. The building,
its city and complex are detached with their identities: nothing in the unit of work looks them up again (the
request, inserted by Core, only carries the building's id and the dump reads their columns).
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import instance_dict

from ..domain.errors import NotFound, UnknownReference
from ..domain.registry import Building, City, HousingComplex, Organisation
from ..storage import tables as t
from ..storage.fast import Prepared
from .uow import UnitOfWork


@dataclass
class References:
    org: Organisation
    building: Building | None
    number: int
    people: list | None = None  # the building's responsible technicians for the work type; None: not read


@dataclass(frozen=True)
class Person:
    """A responsible technician as the candidate query of automatic assignment returns him."""

    id: int
    full_name: str
    last_assigned_at: object
    priority: int


def references_and_number(uow: UnitOfWork, org_id: int, work_type: str, building_id: int | None,
                          building_code: str | None, *, with_people: bool = False) -> References:
    """The organisation, the building (when named by id or code; it must be the organisation's) and the next
    request number. The work type must be active in the organisation. With ``with_people`` and a building, also
    the candidates of automatic assignment (the building's active technicians responsible for the work type), read
    by the same statement: one round trip fewer than the assignment's own candidate query."""
    by_id, by_code = building_id is not None, building_id is None and bool(building_code)
    with_people = with_people and (by_id or by_code)
    conn = uow.session.connection()
    with_counter = conn.dialect.name == "postgresql"
    values = {"org": org_id, "work_type": work_type, "building_id": building_id, "building_code": building_code}
    if with_counter:  # PostgreSQL: on the driver's cursor (storage.fast), the same SQL at a fraction of the CPU
        rows = _prepared(by_id, by_code, with_people, conn.dialect).rows(conn, values)
    else:
        rows = conn.execute(_statement(by_id, by_code, with_counter, with_people), values).all()
    if not rows:
        raise NotFound(f"Organisation {org_id} does not exist.")
    row = rows[0]  # one row per candidate (or one row without any): the references repeat in each
    if not row.wt_active:
        raise UnknownReference(f"Work type '{work_type}' is not active in your organisation.", field="work_type")
    if (by_id or by_code) and row.b_id is None:
        what = building_id if by_id else f"'{building_code}'"
        raise UnknownReference(f"Building {what} does not exist in your organisation.", field="building")
    number = row.number if with_counter else next_number(conn, org_id)
    if number is None:
        raise NotFound(f"Organisation {org_id} has no request counter; it was not created by the service layer.")
    session = uow.session
    org = _persistent(session, Organisation, row, "o_", t.organisations)
    building = None
    if by_id or by_code:
        building = _persistent(session, Building, row, "b_", t.buildings, add=False, relations={
            "city": _persistent(session, City, row, "c_", t.cities, add=False),
            "complex": _persistent(session, HousingComplex, row, "x_", t.complexes, add=False)
            if row.x_id is not None else None})
    people = [Person(r.s_id, r.s_full_name, r.s_last_assigned_at, r.p_priority) for r in rows
              if r.s_id is not None] if with_people else None
    return References(org, building, number, people)


def next_number(conn, org_id: int) -> int | None:
    return conn.execute(_counter(), {"org": org_id}).scalar_one_or_none()


@functools.lru_cache(maxsize=1)
def _counter() -> sa.Update:
    c = t.counters.c
    # "org", not "org_id", here and in the statement around it: a parameter named like one of the counter's
    # columns would become that column's new value in the UPDATE
    return sa.update(t.counters).where(c.org_id == sa.bindparam("org"), c.name == "request") \
        .values(value=c.value + 1).returning(c.value)


def _labelled(table: sa.Table, prefix: str) -> list:
    return [col.label(prefix + col.name) for col in table.columns]


@functools.lru_cache(maxsize=None)
def _statement(by_id: bool, by_code: bool, with_counter: bool, with_people: bool = False) -> sa.Select:
    o, w, b = t.organisations.c, t.work_types.c, t.buildings.c
    columns = _labelled(t.organisations, "o_") + [w.active.label("wt_active")]
    source = t.organisations.outerjoin(t.work_types, sa.and_(w.org_id == o.id, w.code == sa.bindparam("work_type")))
    if by_id or by_code:
        place = b.id == sa.bindparam("building_id") if by_id else b.code == sa.bindparam("building_code")
        columns += _labelled(t.buildings, "b_") + _labelled(t.cities, "c_") + _labelled(t.complexes, "x_")
        source = source.outerjoin(t.buildings, sa.and_(b.org_id == o.id, place)) \
            .outerjoin(t.cities, t.cities.c.id == b.city_id) \
            .outerjoin(t.complexes, t.complexes.c.id == b.complex_id)
    if with_people:  # the same conditions as assignment's candidate query; an inactive one's row gets NULLs
        p, s = t.responsibilities.c, t.staff.c
        columns += [s.id.label("s_id"), s.full_name.label("s_full_name"),
                    s.last_assigned_at.label("s_last_assigned_at"), p.priority.label("p_priority")]
        source = source.outerjoin(t.responsibilities, sa.and_(p.org_id == o.id, p.building_id == b.id,
                                                              p.work_type == sa.bindparam("work_type"))) \
            .outerjoin(t.staff, sa.and_(s.id == p.staff_id, s.active.is_(True), s.role == "technician"))
    stmt = sa.select(*columns).select_from(source).where(o.id == sa.bindparam("org"))
    if with_counter:
        taken = _counter().cte("taken")
        stmt = stmt.add_columns(sa.select(taken.c.value).scalar_subquery().label("number"))
    return stmt


@functools.lru_cache(maxsize=64)
def _prepared(by_id: bool, by_code: bool, with_people: bool, dialect) -> Prepared:
    return Prepared(_statement(by_id, by_code, True, with_people), dialect)


def _persistent(session, cls, row, prefix: str, table: sa.Table, relations: dict | None = None, *,
                add: bool = True):
    """A domain object from a row's prefixed columns, loaded and unchanged: in the session (``add``), or detached
    with its identity (the building, its city and complex: nothing in the unit of work looks them up again, and
    adding them to the session cost more than building them)."""
    names, values_of, id_index = _columns(row._fields, prefix, table)
    known = session.identity_map.get(identity_key(cls, (row[id_index],)))
    if known is not None:  # already loaded in this unit of work: that object it is
        return known
    obj = sa.inspect(cls).class_manager.new_instance()
    values = instance_dict(obj)  # filled the way the ORM's loader fills it; then marked loaded and unchanged
    values.update(zip(names, values_of(row)))
    if relations:
        values.update(relations)
    make_transient_to_detached(obj)
    if add:
        session.add(obj)
    return obj


@functools.lru_cache(maxsize=256)
def _columns(fields: tuple[str, ...], prefix: str, table: sa.Table):
    """The table's column names, a getter of their values from a row with these fields, the id's index."""
    names = tuple(col.name for col in table.columns)
    return names, operator.itemgetter(*(fields.index(prefix + name) for name in names)), fields.index(prefix + "id")
