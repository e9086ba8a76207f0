"""Import of buildings and staff from the CSV and XLSX files a УК keeps.

Every row is parsed and checked first; errors are collected per row as {row, column, message}, with row numbers
as the user sees them (the header is row 1). If any row fails nothing is written. Otherwise every row goes through
RegistryService in ONE unit of work, so a database failure leaves nothing half-imported either. Re-importing the
same file updates, never duplicates. A column missing from the file keeps what the registry already has.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from ..domain.errors import DomainError, NotFound, ValidationError
from ..domain.events import Actor
from ..domain.phones import normalize_phone
from ..domain.registry import Building, City, HousingComplex, Organisation, Staff
from .registry import RegistryService, require_role
from .spreadsheets import read_rows
from .uow import UnitOfWork

# -- the header and role vocabulary a УК actually uses: data, not code -------------------------------------------
BUILDING_COLUMNS: dict[str, tuple[str, ...]] = {
    "building_id": ("Код дома", "Код", "Код здания", "ID дома", "Идентификатор дома", "building code"),
    "city": ("Город", "Населённый пункт"),
    "complex": ("ЖК", "Жилой комплекс", "Комплекс", "housing complex"),
    "street": ("Улица",),
    "house": ("Дом", "Номер дома", "house number"),
    "korpus": ("Корпус", "Корп", "building block"),
    "entrances": ("Подъездов", "Подъезды", "количество подъездов", "кол-во подъездов", "число подъездов"),
    "floors": ("Этажей", "Этажи", "этажность", "количество этажей", "кол-во этажей", "число этажей"),
    "apartments": ("Квартир", "Квартиры", "количество квартир", "кол-во квартир", "число квартир"),
}
BUILDING_REQUIRED = ("building_id", "city", "street", "house", "entrances", "floors", "apartments")

STAFF_COLUMNS: dict[str, tuple[str, ...]] = {
    "full_name": ("ФИО", "Ф.И.О.", "Сотрудник", "name", "full name"),
    "role": ("Должность", "Роль", "position"),
    "phone": ("Телефон", "Мобильный телефон", "Номер телефона", "Тел", "mobile"),
    "sip_account": ("SIP", "SIP-аккаунт", "SIP-логин", "sip account"),
    "email": ("E-mail", "Эл. почта", "Электронная почта", "Почта"),
    "external_id": ("Табельный номер", "Таб. №", "Табельный", "Код сотрудника", "Внешний код"),
}
STAFF_REQUIRED = ("full_name", "role", "phone")

ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "dispatcher": ("диспетчер", "старший диспетчер", "диспетчер адс", "оператор"),
    "technician": ("техник", "исполнитель", "слесарь", "сантехник", "слесарь-сантехник", "электрик",
                   "электромонтер", "электромонтёр", "мастер", "лифтер", "лифтёр", "кровельщик", "плотник",
                   "сварщик", "дворник", "рабочий", "plumber", "electrician"),
    "manager": ("руководитель", "управляющий", "начальник", "менеджер", "директор", "главный инженер"),
    "admin": ("администратор", "админ", "administrator"),
}


def _norm(text) -> str:
    """A header or role as compared: lower case, ё = е, punctuation and spacing ignored."""
    text = str(text or "").replace("\ufeff", "").lower().replace("ё", "е")
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


def _lookup(names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {_norm(alias): key for key, aliases in names.items() for alias in (key, *aliases)}


_ROLES = _lookup(ROLE_NAMES)


def role_code(value: str) -> str | None:
    """The role code for what a УК writes ("Слесарь-сантехник 5 разряда" -> technician), or None."""
    name = _norm(value)
    if name in _ROLES:
        return _ROLES[name]
    prefixes = [alias for alias in _ROLES if name.startswith(alias + " ")]
    return _ROLES[max(prefixes, key=len)] if prefixes else None


# -- results ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportResult:
    kind: str
    filename: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def written(self) -> bool:
        return not self.dry_run and not self.errors

    def as_dict(self) -> dict:
        return {"kind": self.kind, "filename": self.filename, "dry_run": self.dry_run, "written": self.written,
                "rows": self.rows, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "ignored_columns": self.ignored_columns, "errors": [e.as_dict() for e in self.errors]}

    def summary(self) -> str:
        """A few lines for a terminal."""
        head = f"{self.kind} from {self.filename}: {self.rows} rows"
        if self.errors:
            lines = [f"{head}; nothing imported, {len(self.errors)} error(s):"]
            lines += [f"  row {e.row}" + (f", column '{e.column}'" if e.column else "") + f": {e.message}"
                      for e in self.errors]
            return "\n".join(lines)
        verb = "would be" if self.dry_run else "were"
        text = (f"{head}; {self.created} {verb} created, {self.updated} updated, {self.unchanged} unchanged"
                + (" (dry run, nothing written)." if self.dry_run else "."))
        if self.ignored_columns:
            text += f"\nIgnored columns: {', '.join(self.ignored_columns)}."
        return text


# -- what a kind of import is -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportKind:
    name: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    unique: tuple[str, ...]  # values that must not repeat within one file
    compared: tuple[str, ...]  # fields that tell "updated" from "unchanged"
    entity: type
    check: Callable[[dict, Organisation], tuple[dict, list[ValidationError]]]  # cells -> clean data, errors
    match: tuple[tuple[str, str], ...]  # (column, attribute) pairs, in order, that find the record a row updates
    upsert: str  # the RegistryService method that writes one row

    @property
    def headers(self) -> dict[str, str]:
        return _lookup(self.columns)


def _check_building(row: dict, org: Organisation) -> tuple[dict, list[ValidationError]]:
    try:
        Building(org.id, row["building_id"], 0, row["street"], row["house"], korpus=row.get("korpus"),
                 entrances=row["entrances"], floors=row["floors"], apartments=row["apartments"])
        City(org.id, row["city"])
        if row.get("complex"):
            HousingComplex(org.id, 0, row["complex"])
    except ValidationError as exc:
        return row, [exc]
    return row, []


def _check_staff(row: dict, org: Organisation) -> tuple[dict, list[ValidationError]]:
    errors = []
    role = role_code(row["role"])
    if role is None:
        titles = ", ".join(aliases[0] for aliases in ROLE_NAMES.values())
        errors.append(ValidationError(f"Unknown role '{row['role']}'. Use a role code ({', '.join(ROLE_NAMES)}) "
                                      f"or a job title such as {titles}, слесарь, электрик, сантехник.",
                                      field="role"))
    try:
        phone = normalize_phone(row["phone"], region=org.phone_region)
    except ValidationError as exc:
        errors.append(exc)
    if errors:
        return row, errors
    row = {**row, "role": role, "phone": phone}
    try:
        Staff(org.id, row["full_name"], role, phone, sip_account=row.get("sip_account"), email=row.get("email"),
              external_id=row.get("external_id"))
    except ValidationError as exc:
        return row, [exc]
    return row, []


BUILDINGS = ImportKind("buildings", BUILDING_COLUMNS, BUILDING_REQUIRED, ("building_id",),
                       ("city_id", "complex_id", "street", "house", "korpus", "entrances", "floors", "apartments"),
                       Building, _check_building, (("building_id", "code"),), "upsert_building")
STAFF = ImportKind("staff", STAFF_COLUMNS, STAFF_REQUIRED, ("phone", "external_id", "sip_account"),
                   ("full_name", "role", "phone", "sip_account", "email", "external_id"),
                   Staff, _check_staff, (("external_id", "external_id"), ("phone", "phone")), "upsert_staff")
KINDS = {k.name: k for k in (BUILDINGS, STAFF)}


# -- parsing and checking every row -------------------------------------------------------------------------------
@dataclass
class _Header:
    index: dict[str, int] = field(default_factory=dict)  # field -> column position
    names: dict[str, str] = field(default_factory=dict)  # field -> the header as written in the file
    ignored: list[str] = field(default_factory=list)


def _read_header(kind: ImportKind, number: int, cells: list[str], errors: list[RowError]) -> _Header:
    header, lookup = _Header(), kind.headers
    for position, text in enumerate(cells):
        key = lookup.get(_norm(text)) if text else None
        if key is None:
            if text:
                header.ignored.append(text)
        elif key in header.index:
            errors.append(RowError(number, text, f"The columns '{header.names[key]}' and '{text}' both mean "
                                                 f"'{key}'; keep one of them."))
        else:
            header.index[key], header.names[key] = position, text
    for key in kind.required:
        if key not in header.index:
            errors.append(RowError(number, key, f"The column '{key}' is missing; the header row must name it "
                                                f"'{key}' or '{kind.columns[key][0]}'."))
    return header


def _parse(kind: ImportKind, org: Organisation, rows: list[tuple[int, list[str]]]):
    """-> (header, [(row number, clean data)], errors). Every row is checked, so every error is reported."""
    errors: list[RowError] = []
    if not rows:
        return _Header(), [], [RowError(1, None, "The file has no header row and no data.")]
    header = _read_header(kind, *rows[0], errors)
    if errors:
        return header, [], errors
    clean, seen = [], {key: {} for key in kind.unique}
    for number, cells in rows[1:]:
        data = {key: cells[i] if i < len(cells) else "" for key, i in header.index.items()}
        empty = [key for key in kind.required if not data[key]]
        errors += [RowError(number, header.names[key], f"'{header.names[key]}' is empty; fill it in.")
                   for key in empty]
        if empty:
            continue
        data, problems = kind.check(data, org)
        errors += [RowError(number, header.names.get(p.field, p.field), p.message) for p in problems]
        if problems:
            continue
        repeated = [key for key in kind.unique if data.get(key) and data[key] in seen[key]]
        errors += [RowError(number, header.names[key], f"Duplicate {key} '{data[key]}': row {seen[key][data[key]]} "
                                                       "has it too; each must appear once in the file.")
                   for key in repeated]
        for key in kind.unique:
            if data.get(key):
                seen[key].setdefault(data[key], number)
        if not repeated:
            clean.append((number, data))
    return header, clean, errors


def _state(obj, names: tuple[str, ...]) -> tuple:
    return tuple(getattr(obj, name) for name in names)


def _current(obj, key: str):
    """What the registry holds for an import column (kept when the file has no such column)."""
    if key == "complex":
        return obj.complex.name if obj.complex else None
    return getattr(obj, key)


# -- the service --------------------------------------------------------------------------------------------------
class ImportService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], registry: RegistryService):
        self.uow = uow_factory
        self.registry = registry

    def import_buildings(self, org_id: int, actor: Actor, filename: str, data: bytes, *,
                         dry_run: bool = False) -> ImportResult:
        return self.import_file("buildings", org_id, actor, filename, data, dry_run=dry_run)

    def import_staff(self, org_id: int, actor: Actor, filename: str, data: bytes, *,
                     dry_run: bool = False) -> ImportResult:
        return self.import_file("staff", org_id, actor, filename, data, dry_run=dry_run)

    def import_file(self, kind: str, org_id: int, actor: Actor, filename: str, data: bytes, *,
                    dry_run: bool = False) -> ImportResult:
        """Check every row; write all of them in one transaction, or none. ``dry_run`` checks and counts only.

        Row errors come back in ``result.errors``; a file that is no table raises UnsupportedFile."""
        spec = KINDS.get(kind)
        if spec is None:
            raise ValidationError(f"Unknown import '{kind}'; use one of: {', '.join(KINDS)}.", field="kind")
        require_role(actor)
        rows = read_rows(filename, data)
        result = ImportResult(spec.name, filename, dry_run, rows=max(len(rows) - 1, 0))
        with self.uow() as uow:
            org = uow.session.get(Organisation, org_id)
            if org is None:
                raise NotFound(f"Organisation {org_id} does not exist.")
            header, clean, result.errors = _parse(spec, org, rows)
            result.ignored_columns = header.ignored
            if not result.errors:
                self._write(uow, spec, org_id, actor, header, clean, result)
            if not result.errors and not dry_run:
                uow.commit()
        return result

    def _write(self, uow: UnitOfWork, spec: ImportKind, org_id: int, actor: Actor, header: _Header,
               rows: list[tuple[int, dict]], result: ImportResult) -> None:
        table = sa.inspect(spec.entity).local_table
        existing = list(uow.session.scalars(sa.select(spec.entity).where(table.c.org_id == org_id)).unique())
        before = {obj.id: _state(obj, spec.compared) for obj in existing}
        index = {(key, getattr(obj, attr)): obj for obj in existing for key, attr in spec.match
                 if getattr(obj, attr) is not None}
        absent = [key for key in spec.columns if key not in header.index]
        upsert = getattr(self.registry, spec.upsert)
        for number, data in rows:
            match = next((index[k, data[k]] for k, _ in spec.match if data.get(k) and (k, data[k]) in index), None)
            if match is not None:
                data = {**{key: _current(match, key) for key in absent}, **data}
            try:
                with uow.session.begin_nested():
                    obj = upsert(org_id, actor, data, uow=uow)
            except DomainError as exc:
                result.errors.append(RowError(number, header.names.get(exc.field, exc.field), exc.message))
                continue
            if obj.id not in before:
                result.created += 1
            elif _state(obj, spec.compared) != before[obj.id]:
                result.updated += 1
            else:
                result.unchanged += 1


def run_import(container, org_code: str, kind: str, path: str, *, dry_run: bool = False) -> ImportResult:
    """For the CLI (`hotline import buildings|staff --org CODE FILE`): print ``result.summary()`` and exit
    non-zero when ``result.errors``. Raises a DomainError for an unknown organisation, a missing file or one that
    is no table."""
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"There is no file at '{path}'.", field="file")
    org = container.registry.organisation_by_code(org_code)
    return container.imports.import_file(kind, org.id, Actor.system("import"), file.name, file.read_bytes(),
                                         dry_run=dry_run)
