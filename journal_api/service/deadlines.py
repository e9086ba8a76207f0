"""The deadline port. The deadline issue replaces :class:`EmergencyOnlyPolicy` with rules as data; until then the
journal applies the one federal rule every АДС knows by heart (ПП 416 п.13)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from ..domain.request import Deadlines, Request


class DeadlinePolicy(Protocol):
    def deadlines_for(self, request: Request, org_id: int, now: datetime) -> Deadlines: ...


class EmergencyOnlyPolicy:
    """An emergency is localised within 30 minutes and repaired within 3 days; other requests get no deadline."""

    CLAUSE = "ПП 416 п.13"

    def deadlines_for(self, request: Request, org_id: int, now: datetime) -> Deadlines:
        if request.urgency != "emergency":
            return Deadlines()
        start = request.registered_at
        return Deadlines(localisation_due_at=start + timedelta(minutes=30), repair_due_at=start + timedelta(days=3),
                         rule="federal.emergency", localisation_clause=self.CLAUSE, repair_clause=self.CLAUSE)
