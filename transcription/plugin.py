"""The transcription package's hooks into `hotline`, the web app and the worker (see journal_api/plugins.py)."""
from __future__ import annotations


def commands(cli) -> None:
    """`hotline models list|fetch|add`, `hotline transcribe`, `hotline extract`, `hotline transcriber`."""
    from .cli import register

    register(cli)


def web(app, container) -> None:
    """No blueprints: the console (issue 7) shows the transcripts table."""


def worker(container) -> None:
    """recording.stored -> a transcript for every recording that has none (rq job on <queue>-transcribe)."""
    from journal_api.jobs import subscribe

    from .pipeline import on_recording_stored

    subscribe("recording.stored", on_recording_stored)


def periodic(container) -> list:
    """A pending or live transcript older than [transcription] pending_timeout_min is retried or failed."""
    from .pipeline import sweep

    return [(60, lambda: sweep(container))]


def up(settings) -> list:
    """[(name, argv)] child processes for `hotline up`."""
    return [("transcriber", ["transcriber"])]


def banner(settings) -> list:
    """Lines `hotline up` prints when it is ready."""
    return []


def text_extractor():
    """The facts of a resident's free text (the notifier registers SMS requests with them): work type, emergency,
    apartment, ... with a confidence per field. Without the organisation's registry: no building match."""
    from .extract import extract

    return extract
