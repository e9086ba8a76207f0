"""The transcription package's hooks into `hotline`, the web app and the worker (see journal_api/plugins.py)."""
from __future__ import annotations


def commands(cli) -> None:
    """Add this package's `hotline` subcommands."""


def web(app, container) -> None:
    """Register this package's blueprints."""


def worker(container) -> None:
    """Subscribe this package's outbox handlers."""


def periodic(container) -> list:
    """(every_seconds, callable) pairs for the worker's loop."""
    return []


def up(settings) -> list:
    """[(name, argv)] child processes for `hotline up`."""
    return []


def banner(settings) -> list:
    """Lines `hotline up` prints when it is ready."""
    return []
