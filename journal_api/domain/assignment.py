"""The automatic assignment: who gets a request, and why, in words the dispatcher reads.

Pure and deterministic. The service layer gathers the candidates (the staff responsible for the building and the work
type) with their open load, their last assignment and their schedule state (schedule.availability over
[facts.now, facts.until())), and renders the explanation with the "assignment" texts of the catalogue (ru.json).

Eligible: for an emergency, on shift now, else on call now; for the rest, on shift at some moment before the deadline
(or within the horizon when there is none). Never an absent or off-shift person. Ranking: on shift before on call,
then responsibility priority, open load, the least recently assigned, and the staff id.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from .registry import check_timezone
from .schedule import Availability
from .worktypes import URGENCIES, check_choice

TRIGGERS = ("absent", "impossible", "not_accepted")
DEFAULT_HORIZON = timedelta(days=3)
_NEVER = datetime.min.replace(tzinfo=timezone.utc)
_FEMININE_ENDINGS = ("вна", "чна", "кызы")


@dataclass(frozen=True)
class RequestFacts:
    urgency: str  # emergency | normal
    work_type_name: str  # as the dispatcher reads it: "Водоснабжение"
    now: datetime
    deadline: datetime | None = None  # the earliest deadline still ahead of the request
    timezone: str = "Europe/Moscow"  # the organisation's, for the times in the explanation
    horizon: timedelta = DEFAULT_HORIZON  # how far to look for a shift when there is no deadline or it has passed

    def __post_init__(self):
        check_choice(self.urgency, URGENCIES, "urgency")
        check_timezone(self.timezone)

    @property
    def emergency(self) -> bool:
        return self.urgency == "emergency"

    def until(self) -> datetime:
        """The end of the window in which a non-emergency's assignee must come on shift."""
        if self.deadline is not None and self.deadline > self.now:
            return self.deadline
        return self.now + self.horizon


@dataclass(frozen=True)
class Candidate:
    staff_id: int
    name: str  # the short name: "Иванов И.П."
    priority: int  # of the responsibility; 1 = first choice
    open_load: int  # open requests assigned to this person now
    availability: Availability
    last_assigned_at: datetime | None = None  # for the fair rotation; never assigned comes first
    feminine: bool = False  # for the grammar of the explanation; see is_feminine_name

    def rank(self) -> tuple:
        return self.priority, self.open_load, self.last_assigned_at or _NEVER, self.staff_id


@dataclass(frozen=True)
class Decision:
    """code: assigned | kept | no_responsible | no_other | nobody_now | nobody_before_deadline | nobody_within."""

    code: str
    facts: RequestFacts
    chosen: Candidate | None = None
    presence: str | None = None  # on_shift | on_call | on_shift_from
    unavailable: tuple[tuple[Candidate, str], ...] = ()  # (who, vacation|sick_leave|day_off|off_shift), by rank
    trigger: str | None = None  # of a reassignment
    previous_name: str | None = None  # the assignee the reassignment moves away from

    @property
    def staff_id(self) -> int | None:
        return self.chosen.staff_id if self.chosen else None


def decide(facts: RequestFacts, candidates: Iterable[Candidate]) -> Decision:
    """The best-ranked eligible candidate, or the reason there is none."""
    candidates = _unique(candidates)
    if not candidates:
        return Decision("no_responsible", facts)
    eligible = [(tier, c) for c in candidates if (tier := _tier(facts, c)) is not None]
    if not eligible:
        unavailable = tuple((c, c.availability.absence or "off_shift") for c in sorted(candidates, key=Candidate.rank))
        return Decision(_nobody(facts), facts, unavailable=unavailable)
    tier, chosen = min(eligible, key=lambda pair: (pair[0], pair[1].rank()))
    return Decision("assigned", facts, chosen, _presence(facts, chosen, tier))


def reassign(facts: RequestFacts, candidates: Iterable[Candidate], current_staff_id: int, current_name: str,
             trigger: str) -> Decision:
    """Choose among the others when the assignee is absent, declared the request impossible or did not accept it in
    time. For 'not_accepted' the current assignee is kept ('kept') when nobody else is eligible."""
    check_choice(trigger, TRIGGERS, "trigger")
    candidates = _unique(candidates)
    others = [c for c in candidates if c.staff_id != current_staff_id]
    decision = decide(facts, others)
    if decision.code == "no_responsible" and len(others) < len(candidates):
        decision = replace(decision, code="no_other")
    current = next((c for c in candidates if c.staff_id == current_staff_id), None)
    if decision.chosen is None and trigger == "not_accepted" and current is not None:
        tier = _tier(facts, current)
        if tier is not None:
            decision = Decision("kept", facts, current, _presence(facts, current, tier))
    return replace(decision, trigger=trigger, previous_name=current_name)


def explain(decision: Decision, texts: dict) -> str:
    """The decision in Russian, from the catalogue's "assignment" section."""
    text = _chosen(decision, texts) if decision.chosen else _nobody_text(decision, texts)
    if decision.trigger:
        why = texts["triggers"][decision.trigger].format(name=decision.previous_name)
        text = texts["reassigned"].format(trigger=why, outcome=text)
    return text


def is_feminine_name(full_name: str) -> bool:
    """"Петрова Анна Сергеевна" -> True: told by the patronymic, which is the only reliable sign."""
    words = (full_name or "").lower().split()
    return len(words) >= 3 and words[-1].endswith(_FEMININE_ENDINGS)


def _tier(facts: RequestFacts, candidate: Candidate) -> int | None:
    """0 or 1 when eligible (the lower the better), None when not."""
    state = candidate.availability
    if facts.emergency:
        return 0 if state.on_shift_now else 1 if state.on_call_now else None
    on_shift_from = state.on_shift_from
    return 0 if on_shift_from is not None and facts.now <= on_shift_from < facts.until() else None


def _presence(facts: RequestFacts, candidate: Candidate, tier: int) -> str:
    if facts.emergency:
        return "on_shift" if tier == 0 else "on_call"
    return "on_shift" if candidate.availability.on_shift_from <= facts.now else "on_shift_from"


def _nobody(facts: RequestFacts) -> str:
    if facts.emergency:
        return "nobody_now"
    return "nobody_before_deadline" if facts.until() == facts.deadline else "nobody_within"


def _unique(candidates: Iterable[Candidate]) -> list[Candidate]:
    candidates = list(candidates)
    ids = [c.staff_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError(f"A candidate appears twice among staff ids {sorted(ids)}; pass each person once.")
    return candidates


def _chosen(decision: Decision, texts: dict) -> str:
    who = decision.chosen
    state = who.availability
    at = _time(state.on_shift_from, decision.facts, texts) if decision.presence == "on_shift_from" else ""
    return texts[decision.code]["f" if who.feminine else "m"].format(
        name=who.name,
        priority=texts["priority"].format(priority=who.priority) if who.priority != 1 else "",
        presence=texts["presence"][decision.presence].format(at=at),
        load=texts["load"][_plural(who.open_load)].format(n=who.open_load))


def _nobody_text(decision: Decision, texts: dict) -> str:
    facts = decision.facts
    who = ", ".join(texts["who"].format(name=c.name, state=texts["states"][state])
                    for c, state in decision.unavailable)
    return texts[decision.code].format(work_type=facts.work_type_name, who=who,
                                       deadline=_time(facts.deadline, facts, texts),
                                       hours=int(facts.horizon.total_seconds() // 3600))


def _time(at: datetime | None, facts: RequestFacts, texts: dict) -> str:
    return at.astimezone(ZoneInfo(facts.timezone)).strftime(texts["time_format"]) if at else ""


def _plural(n: int) -> str:
    """The Russian plural category of a count: 1 заявка, 3 заявки, 5 заявок."""
    if n == 0:
        return "zero"
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"
