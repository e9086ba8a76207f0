"""The process's one Notifier, set by the plugin hooks at start (never at import time)."""
from __future__ import annotations

_notifier = None


def set_notifier(notifier) -> None:
    global _notifier
    _notifier = notifier


def get_notifier():
    """The notifier of this process; a job that runs where no hook built one wires it from the journal's container."""
    global _notifier
    if _notifier is None:
        from journal_api import jobs

        from .service import Notifier

        _notifier = Notifier(jobs._get_container())
    return _notifier
