"""Known incidents (issue 8 §3): pure detection of many requests about one thing.

A burst riser floods one riser of a building; a building without water or heating affects the whole building; a
power cut affects a street. So every request has places at several scopes (``riser`` < ``building`` < ``street``),
and each work type names the scopes it is grouped by (``IncidentRules.scopes``). When requests of one work type
about one place arrive within ``window``, the place gets an incident: proposed to the dispatcher at ``propose_at``
requests, opened by itself at ``open_at`` (the IVR then announces it). A request joins an incident that is already
proposed or open for its place; a proposed incident that reaches ``open_at`` is opened.

Riser (стояк): the apartments stacked above each other in one entrance. Without a riser register the position is
derived from the building's geometry (apartments spread evenly over entrances and floors): apartment ``a`` in a
building of ``A`` apartments, ``E`` entrances and ``F`` floors sits in entrance ``(a-1) // (A/E)`` at position
``(a-1) % (A/E) % (A/E/F)`` on its floor. Buildings whose numbers do not divide evenly get no riser scope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

SCOPES = ("riser", "building", "street")
STATUSES = ("proposed", "open", "closed", "dismissed")
ACTIVE = ("proposed", "open")
DEFAULT_SCOPES = {"water": ("riser", "building"), "heating": ("riser", "building"), "sewerage": ("riser", "building"),
                  "electricity": ("building", "street"), "gas": ("building",), "elevator": ("building",),
                  "intercom": ("building",), "roof": ("building",)}


@dataclass(frozen=True)
class IncidentRules:
    window: timedelta = timedelta(minutes=30)
    propose_at: int = 3
    open_at: int = 8
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SCOPES))
    # work types not listed in ``scopes`` (e.g. "other", "yard") are never grouped: they name no common cause

    def __post_init__(self):
        if self.propose_at < 2 or self.open_at < self.propose_at:
            raise ValueError("incident thresholds: need 2 <= propose_at <= open_at")
        if self.window <= timedelta(0):
            raise ValueError("incident window must be positive")
        for work_type, scopes in self.scopes.items():
            unknown = set(scopes) - set(SCOPES)
            if unknown:
                raise ValueError(f"incident scopes of {work_type}: unknown {sorted(unknown)}; use {SCOPES}")

    @classmethod
    def from_settings(cls, data: Mapping | None) -> "IncidentRules":
        """From a mapping like ``{"window_minutes": 20, "propose_at": 3, "open_at": 6, "scopes": {...}}``."""
        data = dict(data or {})
        kw = {}
        if "window_minutes" in data:
            kw["window"] = timedelta(minutes=float(data["window_minutes"]))
        for key in ("propose_at", "open_at"):
            if key in data:
                kw[key] = int(data[key])
        if "scopes" in data:
            kw["scopes"] = {k: tuple(v) for k, v in dict(data["scopes"]).items()}
        return cls(**kw)


@dataclass(frozen=True)
class Place:
    building_id: int
    street_key: str | None = None
    riser_key: str | None = None

    def key(self, scope: str) -> str | None:
        if scope == "building":
            return f"b{self.building_id}"
        if scope == "riser":
            return self.riser_key
        return self.street_key


@dataclass(frozen=True)
class Sighting:
    """A registered request as detection sees it."""

    request_id: int
    at: datetime
    work_type: str
    place: Place
    incident_id: int | None = None


@dataclass(frozen=True)
class Active:
    """An incident that is proposed or open."""

    id: int
    work_type: str
    scope: str
    scope_key: str
    status: str
    count: int


@dataclass(frozen=True)
class Decision:
    action: str  # none | join | propose | open
    scope: str | None = None
    scope_key: str | None = None
    incident_id: int | None = None  # join: the incident joined
    request_ids: tuple[int, ...] = ()  # propose/open: the members; join: the new request
    open_now: bool = False  # join: the incident reaches open_at and is opened


NOTHING = Decision("none")


def street_key(city_id: int, street: str) -> str:
    """One street of one city, whatever the spelling of "ул."/"улица", case and spaces."""
    text = re.sub(r"[\s.,]+", " ", (street or "").lower().replace("ё", "е")).strip()
    text = re.sub(r"^(ул|улица|пр|пр-т|проспект|пер|переулок|ш|шоссе|б-р|бульвар) ", "", text)
    return f"c{city_id}:{text}"


def riser_key(building_id: int, apartment: int | None, *, entrances: int, floors: int,
              apartments: int) -> str | None:
    if not apartment or entrances < 1 or floors < 1 or apartment < 1 or apartment > apartments:
        return None
    if apartments % entrances or (apartments // entrances) % floors:
        return None
    per_entrance = apartments // entrances
    per_floor = per_entrance // floors
    entrance = (apartment - 1) // per_entrance
    position = (apartment - 1) % per_entrance % per_floor
    return f"b{building_id}:e{entrance + 1}:r{position + 1}"


def keys(s: Sighting, rules: IncidentRules) -> list[tuple[str, str]]:
    """(scope, key) pairs of a request, narrowest first; empty for work types that are never grouped."""
    out = []
    for scope in sorted(rules.scopes.get(s.work_type, ()), key=SCOPES.index):
        key = s.place.key(scope)
        if key:
            out.append((scope, key))
    return out


def decide(new: Sighting, recent: Iterable[Sighting], active: Iterable[Active], rules: IncidentRules) -> Decision:
    """What the arrival of ``new`` does. ``recent``: other requests (any incident or none) registered before it;
    ``active``: the organisation's proposed and open incidents."""
    places = keys(new, rules)
    if not places or new.incident_id is not None:
        return NOTHING
    active = [a for a in active if a.work_type == new.work_type and a.status in ACTIVE]
    for scope, key in places:  # an incident already known for its place: join the narrowest
        for inc in sorted(active, key=lambda a: (a.status != "open", a.id)):
            if (inc.scope, inc.scope_key) == (scope, key):
                return Decision("join", scope, key, inc.id, (new.request_id,),
                                open_now=inc.status == "proposed" and inc.count + 1 >= rules.open_at)
    since = new.at - rules.window
    pool = [r for r in recent if r.work_type == new.work_type and r.incident_id is None and since <= r.at <= new.at
            and r.request_id != new.request_id]
    best = NOTHING
    for scope, key in places:
        members = [r.request_id for r in pool if (scope, key) in keys(r, rules)] + [new.request_id]
        action = "open" if len(members) >= rules.open_at else "propose" if len(members) >= rules.propose_at else None
        if action and (best.action == "none" or (action == "open" and best.action == "propose")):
            best = Decision(action, scope, key, None, tuple(sorted(members)))
    return best

