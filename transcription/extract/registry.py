"""An organisation's buildings for matching: from the building import CSV (issue 2's columns) or from the journal."""
from __future__ import annotations

import csv
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
    def from_csv(cls, path: str | Path) -> "Registry":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        return cls([Building(id=r["building_id"].strip(), city=(r.get("city") or "").strip(),
                             street=r["street"].strip(), house=str(r["house"]).strip(),
                             korpus=str(r.get("korpus") or "").strip(),
                             apartments=int(r.get("apartments") or 0), entrances=int(r.get("entrances") or 0),
                             floors=int(r.get("floors") or 0)) for r in rows])

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
