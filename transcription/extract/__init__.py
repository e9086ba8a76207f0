"""Extraction of a request's facts from Russian text (a transcript, an SMS): work type, emergency, the place, and
the building in the organisation's registry, each with a confidence in [0, 1]."""
from __future__ import annotations

from .address import parse as parse_place
from .classify import emergency as _emergency
from .classify import work_type as _work_type
from .registry import Building, Registry
from .text import tokens

FIELDS = ("work_type", "emergency", "street", "house", "korpus", "apartment", "entrance", "floor", "building_id")


def extract(text: str, registry: Registry | None = None) -> dict:
    """{field: value, ..., "confidence": {field: float}}; a field not found is None with confidence 0."""
    toks = tokens(text or "")
    kind, kind_conf = _work_type(toks)
    urgent, urgent_conf, cues = _emergency(toks)
    place = parse_place(toks, registry)
    out = {"work_type": kind, "emergency": urgent}
    conf = {"work_type": kind_conf, "emergency": urgent_conf}
    for name in FIELDS[2:]:
        found = place.fields.get(name)
        out[name] = found.value if found else None
        conf[name] = round(found.confidence, 2) if found else 0.0
    out["confidence"] = conf
    out["emergency_cues"] = cues
    if place.building is not None and place.building.pk is not None:
        out["building_pk"] = place.building.pk
    return out


__all__ = ["extract", "Registry", "Building", "FIELDS"]
