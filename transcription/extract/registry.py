"""An organisation's buildings for matching: from a building import file (the journal's import format, read by the
journal's own parser: CSV in UTF-8 or Windows-1251, ';' or ',', Russian or English headers, or XLSX) or from the
journal."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .text import lemma

STREET_TYPES = {
    "улица": "улица", "ул": "улица", "проспект": "проспект", "пр-т": "проспект", "просп": "проспект",
    "пр": "проспект", "переулок": "переулок", "пер": "переулок", "шоссе": "шоссе", "ш": "шоссе",
    "бульвар": "бульвар", "б-р": "бульвар", "бул": "бульвар", "площадь": "площадь", "пл": "площадь",
    "проезд": "проезд", "пр-д": "проезд", "набережная": "набережная", "наб": "набережная", "тупик": "тупик",
    "аллея": "аллея", "микрорайон": "микрорайон", "мкр": "микрорайон", "мкрн": "микрорайон", "линия": "линия",
    "тракт": "тракт", "квартал": "квартал", "кв-л": "квартал",
}


def street_key(name: str) -> str:
    """'ул. Маршала Жукова' -> 'маршал жуков': type words dropped, each word lemmatised."""
    words = re.findall(r"[а-яa-z0-9]+(?:-[а-яa-z]+)?", name.lower().replace("ё", "е"))
    return " ".join(lemma(w) if not w.isdigit() else w for w in words if w not in STREET_TYPES)


def street_words(name: str) -> str:
    """'ул. Ленина' -> 'ленина': the name as written, type words dropped (ASR text compares better to this)."""
    words = re.findall(r"[а-яa-z0-9]+(?:-[а-яa-z]+)?", name.lower().replace("ё", "е"))
    return " ".join(w for w in words if w not in STREET_TYPES)


def house_key(house: str | None, korpus: str | None = None) -> str:
    h = re.sub(r"\s+", "", (house or "").lower().replace("ё", "е"))
    k = re.sub(r"\s+", "", (korpus or "").lower())
    return f"{h}к{k}" if k else h


@dataclass
class Building:
    id: str  # the organisation's own code (building_id of the import file)
    city: str
    street: str
    house: str
    korpus: str
    apartments: int = 0
    entrances: int = 0
    floors: int = 0
    pk: int | None = None  # the journal's row id, when loaded from the database

    @property
    def key(self) -> str:
        return street_key(self.street)


class Registry:
    def __init__(self, buildings: list[Building]):
        self.buildings = buildings
        self.streets: dict[str, str] = {}  # key -> the registry's spelling
        self.written: dict[str, str] = {}  # key -> the name as written, lowercased, without its type
        for b in buildings:
            self.streets.setdefault(b.key, b.street)
            self.written.setdefault(b.key, street_words(b.street))

    @classmethod
    def from_file(cls, path: str | Path) -> "Registry":
        """The buildings of an import file, parsed as ``hotline import buildings`` parses it (the same header
        vocabulary: "Код дома", "Улица", "Дом", ...). Raises ValueError with the file's problems."""
        from journal_api.domain.errors import DomainError
        from journal_api.service.imports import BUILDINGS, RowError, _read_header
        from journal_api.service.spreadsheets import read_rows

        path = Path(path)
        try:
            rows = read_rows(path.name, path.read_bytes())
        except DomainError as exc:
            raise ValueError(str(exc)) from None
        if not rows:
            raise ValueError(f"{path.name}: the file has no header row and no data")
        errors: list[RowError] = []
        header = _read_header(BUILDINGS, *rows[0], errors)
        if errors:
            raise ValueError("; ".join(f"row {e.row}: {e.message}" for e in errors))

        def cell(cells: list[str], key: str) -> str:
            i = header.index.get(key)
            return str(cells[i]).strip() if i is not None and i < len(cells) else ""

        def number(cells: list[str], key: str) -> int:
            value = cell(cells, key)
            return int(value) if value.isdigit() else 0

        return cls([Building(id=cell(c, "building_id"), city=cell(c, "city"), street=cell(c, "street"),
                             house=cell(c, "house"), korpus=cell(c, "korpus"), apartments=number(c, "apartments"),
                             entrances=number(c, "entrances"), floors=number(c, "floors"))
                    for _, c in rows[1:] if cell(c, "building_id") and cell(c, "street")])

    from_csv = from_file  # the older name

    @classmethod
    def from_database(cls, engine, org_id: int) -> "Registry":
        import sqlalchemy as sa

        from journal_api.storage import tables as t

        b, c = t.buildings.c, t.cities.c
        with engine.connect() as conn:
            rows = conn.execute(sa.select(b.id, b.code, c.name, b.street, b.house, b.korpus, b.apartments,
                                          b.entrances, b.floors)
                                .join(t.cities, t.cities.c.id == b.city_id)
                                .where(b.org_id == org_id, b.active.is_(True))).all()
        return cls([Building(id=r.code, city=r.name, street=r.street, house=r.house, korpus=r.korpus or "",
                             apartments=r.apartments, entrances=r.entrances, floors=r.floors, pk=r.id)
                    for r in rows])

    def on_street(self, key: str) -> list[Building]:
        return [b for b in self.buildings if b.key == key]
