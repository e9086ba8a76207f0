"""What the interpreter asks a telephony worker to do. The worker carries out a batch of actions in order and answers
the batch's last waiting action (Gather, Record, Transfer, Invoke) with one event (see :mod:`ivr_flows.events`)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Play:
    """Play prompt ids in order (``"ivr/greeting"``, ``"digits/5"``); ``Catalogue.path(id)`` gives the WAV. With
    ``barge_in`` the caller may press keys during it: those digits count for the Gather that follows."""

    prompts: tuple[str, ...]
    barge_in: bool = False


@dataclass(frozen=True)
class Gather:
    """Collect DTMF; answered with ``Digits(str)`` (the terminator removed) or ``Timeout()``."""

    max_digits: int
    timeout_s: float
    terminator: str | None = None
    inter_digit_s: float = 3.0


@dataclass(frozen=True)
class Record:
    """Record the caller (``name``: ``description`` or ``voicemail``); answered with ``Recorded``."""

    name: str
    max_s: float
    silence_s: float
    terminator: str | None = "#"
    beep: bool = True


@dataclass(frozen=True)
class Transfer:
    """Connect the caller to ``target`` (a SIP URI or ``"dispatchers"``); answered with ``TransferResult``."""

    target: str
    timeout_s: float


@dataclass(frozen=True)
class Invoke:
    """Call the journal facade (``CallService.invoke(op, args, org_id=, call_id=)``) off the event loop; answered
    with ``InvokeResult(op, ok, data)``. Ops: lookup_caller, buildings_for_apartment, register_request,
    request_status, callback_task."""

    op: str
    args: dict = field(default_factory=dict, hash=False, compare=True)


@dataclass(frozen=True)
class Hangup:
    """End the call. Nothing follows it."""

    cause: str


Action = Play | Gather | Record | Transfer | Invoke | Hangup
WAITING = (Gather, Record, Transfer, Invoke)

__all__ = ["Play", "Gather", "Record", "Transfer", "Invoke", "Hangup", "Action", "WAITING"]
