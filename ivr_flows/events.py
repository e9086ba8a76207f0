"""What a telephony worker tells the interpreter. Only Started opens a call; every other event answers the last
waiting action of the previous batch, except HungUp, which may come at any time."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Started:
    caller: str | None  # the caller ID as received; None or garbage: anonymous
    did: str | None
    call_id: int | None = None


@dataclass(frozen=True)
class PlayDone:
    """Optional: the interpreter never waits for it (plays are chained into the next waiting action)."""


@dataclass(frozen=True)
class Digits:
    digits: str


@dataclass(frozen=True)
class Timeout:
    pass


@dataclass(frozen=True)
class Recorded:
    name: str
    duration_s: float
    reason: str  # silence | terminator | max


@dataclass(frozen=True)
class TransferResult:
    answered: bool


@dataclass(frozen=True)
class InvokeResult:
    op: str
    ok: bool
    data: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class HungUp:
    pass


Event = Started | PlayDone | Digits | Timeout | Recorded | TransferResult | InvokeResult | HungUp

__all__ = ["Started", "PlayDone", "Digits", "Timeout", "Recorded", "TransferResult", "InvokeResult", "HungUp",
           "Event"]
