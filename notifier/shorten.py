"""Shorter forms of a request's place for the compact SMS wordings (pure): the street without its type and titles,
the apartment alone. A technician finds "Королёва 10к2 кв145" as well as "ул. Академика Королёва 10к2 п3 эт5 кв145"."""
from __future__ import annotations

from .compose import Facts
from .templates import Catalogue

STREET_TYPES = frozenset("ул ул. улица пр пр. пр-т просп. проспект пер пер. переулок б-р бул. бульвар наб наб. "
                         "набережная пл пл. площадь ш ш. шоссе пр-д проезд туп. тупик мкр мкр. микрорайон".split())
STREET_TITLES = frozenset("академика маршала адмирала генерала героя профессора космонавта летчика лётчика "
                          "композитора писателя поэта архитектора капитана полковника".split())


def address_short(f: Facts) -> str:
    """The address without its street type and titles; the house number stays."""
    if not f.street:
        return ""
    words = [w for w in f.street.split() if w.lower() not in STREET_TYPES and w.lower() not in STREET_TITLES]
    house = f.house + (f"к{f.korpus}" if f.korpus else "")
    return f"{' '.join(words) or f.street} {house}"


def fields(f: Facts, catalogue: Catalogue) -> dict:
    """The compact wordings' own fields (added to compose.fields)."""
    return {"address_short": address_short(f),
            "apartment": catalogue.value("apartment", apartment=f.apartment) if f.apartment is not None else ""}
