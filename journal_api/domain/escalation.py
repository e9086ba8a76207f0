"""The escalation ladder as data, and the pure computation of what is due when.

A ladder has four tracks. Each track watches one moment of an open request, its *anchor*:

- ``acceptance``: an assigned request that nobody has accepted; points count from the assignment (``assigned+10m``).
- ``unassigned``: a request that nobody holds; points count from the moment it became so (``unassigned+15m``).
- ``localisation`` and ``repair``: one deadline each; points are fractions of the time from registration to the
  deadline (``50%``) or offsets from the deadline (``deadline``, ``deadline+1h``, ``deadline-30m``).

Each entry of a track, per urgency, is one action at a point, or a repeat every N from a point until the track stops.
:func:`due_actions` lists what is due up to a moment, each action with a stable key: the caller logs the keys it has
emitted, so a tick every minute emits each action once. :func:`next_due_at` tells a scheduler when to wake up.
Sending the messages is the notifier's business; an action only names its template.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Iterator, Mapping

from .errors import ValidationError
from .status import OPEN_STATUSES, Status
from .worktypes import URGENCIES

KINDS = {"remind": "reminder", "escalate": "escalation"}
TARGETS = ("assignee", "dispatcher_on_duty", "manager")
MILESTONES = ("accepted", "localised")
TRACK_ANCHORS = {"acceptance": "assigned", "unassigned": "unassigned", "localisation": "deadline",
                 "repair": "deadline"}
TRACKS = tuple(TRACK_ANCHORS)
# The assignee has the request in hand; in other statuses nothing is sent to him.
HOLDING = frozenset({Status.ASSIGNED, Status.ACCEPTED, Status.POSTPONED})

_PERCENT = re.compile(r"^(\d{1,3}(?:\.\d+)?)%$")
_POINT = re.compile(r"^([a-z_]+)(?:([+-])(.+))?$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_TEMPLATE = re.compile(r"^[a-z][a-z0-9_]{2,59}$")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


class LadderError(ValidationError):
    """Bad ladder data; the message names the file and the entry."""

    code = "invalid_escalation_ladder"


# -- the model ---------------------------------------------------------------------------------------------------
def format_duration(delta: timedelta) -> str:
    seconds, parts = int(delta.total_seconds()), []
    for unit, size in _UNITS:
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0m"


@dataclass(frozen=True)
class Point:
    """A moment of a track: its anchor plus an offset, or a fraction of the deadline window."""

    anchor: str
    offset: timedelta = timedelta(0)
    fraction: Fraction | None = None

    @property
    def label(self) -> str:
        if self.fraction is not None:
            return f"{float(self.fraction * 100):g}%"
        if not self.offset:
            return self.anchor
        sign = "-" if self.offset < timedelta(0) else "+"
        return f"{self.anchor}{sign}{format_duration(abs(self.offset))}"


@dataclass(frozen=True)
class Step:
    """One action at a point, or (with ``every``) a repeat at ``at + k * every`` for k = 1, 2, ..."""

    kind: str  # reminder | escalation
    target: str  # assignee | dispatcher_on_duty | manager
    at: Point
    template: str
    every: timedelta | None = None

    def label(self, repeat: int | None = None) -> str:
        point = self.at.label if self.every is None else f"{self.at.label}+{format_duration(self.every)}*{repeat}"
        return f"{self.kind}:{point}:{self.target}"


@dataclass(frozen=True)
class Track:
    name: str
    statuses: frozenset[Status]  # the track runs only while the request is in one of these
    until: str | None  # a milestone that stops the track: accepted | localised
    steps: Mapping[str, tuple[Step, ...]]  # by urgency


@dataclass(frozen=True)
class Ladder:
    tracks: Mapping[str, Track]

    def merged(self, override: "Ladder") -> "Ladder":
        """An organisation's ladder: each track the override gives replaces the same track here."""
        return Ladder({**self.tracks, **override.tracks})

    def templates(self) -> frozenset[str]:
        """The message templates the notifier must know."""
        return frozenset(s.template for t in self.tracks.values() for steps in t.steps.values() for s in steps)


@dataclass(frozen=True)
class RequestSnapshot:
    """What the ladder needs to know about a request now. All times are timezone-aware."""

    status: str
    urgency: str
    registered_at: datetime
    assignee_id: int | None = None
    assigned_at: datetime | None = None  # when the current assignee was assigned
    accepted_at: datetime | None = None  # when the current assignee accepted
    localised_at: datetime | None = None  # when the emergency was localised
    status_since: datetime | None = None  # when the current status began; None counts from registration
    localisation_due_at: datetime | None = None
    repair_due_at: datetime | None = None
    closed_at: datetime | None = None

    def __post_init__(self):
        if self.status not in {s.value for s in Status}:
            raise ValidationError(f"Unknown status '{self.status}'.", field="status")
        if self.urgency not in URGENCIES:
            raise ValidationError(f"Unknown urgency '{self.urgency}'. Use one of: {', '.join(URGENCIES)}.",
                                  field="urgency")
        for name, value in vars(self).items():
            if isinstance(value, datetime) and value.utcoffset() is None:
                raise ValidationError(f"'{name}' must be timezone-aware.", field=name)


@dataclass(frozen=True)
class DueAction:
    key: str  # stable and unique per request: emit each key once
    due_at: datetime
    track: str
    kind: str
    target: str
    template: str
    deadline: str | None = None  # "localisation" | "repair" on the deadline tracks
    deadline_at: datetime | None = None
    repeat: int | None = None  # 1, 2, ... for a repeated action


# -- reading the data --------------------------------------------------------------------------------------------
def parse_ladder(data, source: str = "escalation.yaml", *, partial: bool = False) -> Ladder:
    """Build a validated ladder from parsed YAML (or JSON). ``partial``: an override that may give only some tracks."""
    fail = _failer(source)
    if not isinstance(data, Mapping) or set(data) != {"tracks"} or not isinstance(data["tracks"], Mapping):
        fail("", "expected a mapping with one key, 'tracks', holding a mapping of tracks")
    tracks = {}
    for name, body in data["tracks"].items():
        if name not in TRACK_ANCHORS:
            fail(f"tracks.{name}", f"unknown track '{name}'; known tracks: {', '.join(TRACKS)}")
        tracks[name] = _parse_track(name, body, f"tracks.{name}", fail)
    missing = [name for name in TRACKS if name not in tracks]
    if missing and not partial:
        fail("tracks", f"missing tracks: {', '.join(missing)}")
    return Ladder(tracks)


def _failer(source: str):
    def fail(entry: str, problem: str):
        where = f"{source}: {entry}" if entry else source
        raise LadderError(f"{where}: {problem}.", field=entry or None, details={"file": source, "entry": entry})

    return fail


def _parse_track(name: str, body, where: str, fail) -> Track:
    allowed = ("statuses", "until") + URGENCIES
    if not isinstance(body, Mapping):
        fail(where, f"expected a mapping with the keys {', '.join(allowed)}")
    unknown = [key for key in body if key not in allowed]
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key '{unknown[0]}'; use {', '.join(allowed)}")
    missing = [key for key in ("statuses",) + URGENCIES if key not in body]
    if missing:
        fail(where, f"missing {', '.join(missing)} (an urgency without actions is an empty list: [])")
    until = body.get("until")
    if until is not None and until not in MILESTONES:
        fail(f"{where}.until", f"unknown milestone '{until}'; use {', '.join(MILESTONES)} or leave it out")
    steps = {urgency: _parse_steps(name, body[urgency], f"{where}.{urgency}", fail) for urgency in URGENCIES}
    return Track(name, _parse_statuses(body["statuses"], f"{where}.statuses", fail), until, steps)


def _parse_statuses(value, where: str, fail) -> frozenset[Status]:
    if not isinstance(value, list) or not value:
        fail(where, "expected a non-empty list of statuses")
    open_ = ", ".join(s.value for s in Status if s in OPEN_STATUSES)
    for item in value:
        if item not in {s.value for s in OPEN_STATUSES}:
            fail(where, f"'{item}' is not an open status; a track runs only in these: {open_}")
    return frozenset(Status(item) for item in value)


def _parse_steps(track: str, entries, where: str, fail) -> tuple[Step, ...]:
    if not isinstance(entries, list):
        fail(where, "expected a list of entries (or [] for none)")
    steps, labels = [], set()
    for i, entry in enumerate(entries):
        step = _parse_step(track, entry, f"{where}[{i}]", fail)
        if step.label() in labels:
            fail(f"{where}[{i}]", f"the same action is listed twice ({step.label()})")
        labels.add(step.label())
        steps.append(step)
    return tuple(steps)


def _parse_step(track: str, entry, where: str, fail) -> Step:
    keys = {"at", "every", "from", "remind", "escalate", "template"}
    if not isinstance(entry, Mapping):
        fail(where, "expected a mapping such as {at: 50%, remind: assignee}")
    unknown = sorted(set(entry) - keys)
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key '{unknown[0]}'; use {', '.join(sorted(keys))}")
    verbs = [verb for verb in KINDS if verb in entry]
    if len(verbs) != 1:
        fail(where, "give exactly one of 'remind: <target>' and 'escalate: <target>'")
    target = entry[verbs[0]]
    if target not in TARGETS:
        fail(f"{where}.{verbs[0]}", f"unknown target '{target}'; use {', '.join(TARGETS)}")
    if target == "assignee" and track == "unassigned":
        fail(f"{where}.{verbs[0]}", "the unassigned track has no assignee to address")
    if ("at" in entry) == ("every" in entry):
        fail(where, "give either 'at: <point>' or 'every: <duration>' (with an optional 'from: <point>')")
    if "from" in entry and "every" not in entry:
        fail(f"{where}.from", "'from' belongs to a repeat; give 'every' too")
    every = _parse_every(entry["every"], f"{where}.every", fail) if "every" in entry else None
    point_key = "at" if "at" in entry else "from"
    at = _parse_point(track, entry.get(point_key, TRACK_ANCHORS[track]), f"{where}.{point_key}", fail)
    kind = KINDS[verbs[0]]
    template = entry.get("template", f"{kind}_{track}")
    if not isinstance(template, str) or not _TEMPLATE.match(template):
        fail(f"{where}.template", f"'{template}' is not a template name: use 3-60 lowercase letters, digits, '_'")
    return Step(kind, target, at, template, every)


def _parse_point(track: str, value, where: str, fail) -> Point:
    anchor = TRACK_ANCHORS[track]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        fail(where, f"'{value}' is not a point; write e.g. 50%, {anchor} or {anchor}+30m")
    text = str(value).replace(" ", "")
    percent = _PERCENT.match(text)
    if percent or isinstance(value, (int, float)):
        fraction = Fraction(percent.group(1)) / 100 if percent else Fraction(text)
        if anchor != "deadline":
            fail(where, f"the {track} track has no deadline window; write {anchor}+<duration>")
        if not 0 <= fraction <= 1:
            fail(where, f"'{value}' is outside the deadline window: use 0..100% (or a fraction 0..1)")
        return Point(anchor, fraction=fraction)
    match = _POINT.match(text)
    if not match or match.group(1) != anchor:
        fail(where, f"'{value}' is not a point of the {track} track; write {anchor}, {anchor}+<duration>"
                    + (" or a percentage such as 80%" if anchor == "deadline" else ""))
    _, sign, duration = match.groups()
    offset = _parse_duration(duration, where, fail) if duration else timedelta(0)
    if sign == "-" and anchor != "deadline":
        fail(where, f"'{value}' lies before the {anchor} moment; only the deadline can be approached from before")
    return Point(anchor, -offset if sign == "-" else offset)


def _parse_every(value, where: str, fail) -> timedelta:
    text = str(value).replace(" ", "")
    if text.startswith("-"):
        fail(where, f"the repeat interval must be positive, got a negative '{value}'")
    if not isinstance(value, str):
        fail(where, _duration_hint(value))
    every = _parse_duration(text, where, fail)
    if not every:
        fail(where, "the repeat interval must be positive, got zero")
    return every


def _parse_duration(text: str, where: str, fail) -> timedelta:
    match = _DURATION.match(text)
    if not text or not match:
        fail(where, _duration_hint(text))
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _duration_hint(value) -> str:
    return f"'{value}' is not a duration; write e.g. 30m, 2h, 1d or 1h30m"


# -- what is due when --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Episode:
    """One running track for the current state: the same episode keeps the same keys."""

    track: Track
    start: datetime  # the window's start: registration for deadlines, else the anchor itself
    anchor: datetime
    deadline: str | None

    def at(self, point: Point) -> datetime:
        if point.fraction is None:
            return self.anchor + point.offset
        window = max(_micros(self.anchor - self.start), 0)
        return self.start + timedelta(microseconds=window * point.fraction.numerator // point.fraction.denominator)

    def action(self, step: Step, due_at: datetime, repeat: int | None = None) -> DueAction:
        key = f"{self.track.name}:{step.label(repeat)}@{_stamp(self.anchor)}"
        return DueAction(key, due_at, self.track.name, step.kind, step.target, step.template, self.deadline,
                         self.anchor if self.deadline else None, repeat)


def due_actions(snapshot: RequestSnapshot, ladder: Ladder, now: datetime) -> list[DueAction]:
    """Every action due at or before ``now`` that applies to the request's current state, in time order."""
    found = []
    for episode, step, floor, start in _live_steps(snapshot, ladder):
        if step.every is None:
            if (floor is None or start >= floor) and start <= now:
                found.append(episode.action(step, start))
            continue
        last = _micros(now - start) // _micros(step.every)
        for k in range(_first_repeat(start, step.every, floor, strict=False), last + 1):
            found.append(episode.action(step, start + k * step.every, k))
    return sorted(found, key=lambda a: (a.due_at, a.key))


def next_due_at(snapshot: RequestSnapshot, ladder: Ladder, after: datetime) -> datetime | None:
    """The first moment strictly after ``after`` when an action falls due, if the state stays as it is."""
    times = []
    for _episode, step, floor, start in _live_steps(snapshot, ladder):
        if step.every is None:
            if start > after and (floor is None or start >= floor):
                times.append(start)
            continue
        k = max(_first_repeat(start, step.every, after, strict=True),
                _first_repeat(start, step.every, floor, strict=False))
        times.append(start + k * step.every)
    return min(times, default=None)


_NEVER = object()


def _live_steps(snapshot: RequestSnapshot, ladder: Ladder):
    """(episode, step, floor, start) for every step of the current state that may still fall due."""
    for episode in _episodes(snapshot, ladder):
        for step in episode.track.steps[snapshot.urgency]:
            floor = _floor(snapshot, step)
            if floor is not _NEVER:
                yield episode, step, floor, episode.at(step.at)


def _floor(snapshot: RequestSnapshot, step: Step):
    """The earliest moment an action may fall due: the assignee hears only of points since his assignment."""
    if step.target != "assignee":
        return None
    holding = snapshot.assignee_id is not None and Status(snapshot.status) in HOLDING
    return snapshot.assigned_at if holding and snapshot.assigned_at is not None else _NEVER


def _first_repeat(start: datetime, every: timedelta, bound: datetime | None, *, strict: bool) -> int:
    """The first k >= 1 with start + k * every after ``bound`` (strictly, or at or after it)."""
    if bound is None:
        return 1
    gap, step = _micros(bound - start), _micros(every)
    return max(1, gap // step + 1 if strict else -(-gap // step))


def _episodes(snapshot: RequestSnapshot, ladder: Ladder) -> Iterator[_Episode]:
    status = Status(snapshot.status)
    if snapshot.closed_at is not None or status not in OPEN_STATUSES:
        return
    for track in ladder.tracks.values():
        episode = _episode(track, snapshot) if status in track.statuses else None
        if episode is None:
            continue
        milestone = {"accepted": snapshot.accepted_at, "localised": snapshot.localised_at}.get(track.until)
        if milestone is None or milestone < episode.start:
            yield episode


def _episode(track: Track, snapshot: RequestSnapshot) -> _Episode | None:
    if track.name == "acceptance":
        at = snapshot.assigned_at if snapshot.assignee_id is not None else None
        return _Episode(track, at, at, None) if at else None
    if track.name == "unassigned":
        since = snapshot.status_since or snapshot.registered_at
        return _Episode(track, since, since, None)
    due = getattr(snapshot, f"{track.name}_due_at")
    return _Episode(track, snapshot.registered_at, due, track.name) if due else None


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _stamp(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y%m%dT%H%M%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "Z"
