"""Domain events. Entities record them; the unit of work writes them to the outbox in the same transaction, and
they are published only after commit."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    name: str  # e.g. "request.registered"
    org_id: int
    request_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Actor:
    """Who made a change. ``role`` decides what the flow allows; ``kind`` and ``id`` go into the history."""

    kind: str  # staff | resident | system | token
    role: str  # dispatcher | technician | manager | admin | system | resident
    id: int | None = None
    name: str = ""

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls(kind="system", role="system", name=name)
