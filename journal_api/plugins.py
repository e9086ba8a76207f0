"""The seam between the journal and the packages that build on it (telephony, transcription, notifier).

The dependency rules say the journal imports none of them, yet `hotline`, the web app and the rq worker must carry
their commands, webhooks and event handlers. Each package declares a plugin object in setup.cfg under the entry
point group ``hotline.plugins``; the journal finds them here, at start-up and never at import time.

A plugin is any object (usually a module) with any of these functions:

- ``commands(cli)``: add click commands or groups to the ``hotline`` group;
- ``web(app, container)``: register blueprints on the Flask app (the container is the journal's wiring);
- ``worker(container)``: subscribe outbox handlers (:func:`journal_api.jobs.subscribe`) in the rq worker;
- ``periodic(container)``: return a list of ``(every_seconds, callable)`` that the one scheduler (`hotline cron`,
  :mod:`journal_api.cron`) enqueues and a worker runs (each callable must be idempotent and may raise: rq records
  the failure and the next period tries again);
- ``up(settings)``: the child processes `hotline up` runs for this package, as ``[(name, argv)]`` where argv is
  a `hotline` command line without the program name (e.g. ``[("sip", ["sip"])]``); they get the same environment
  as the worker and are stopped before Redis;
- ``banner(settings)``: lines that `hotline up` prints once everything answers (e.g. the SIP address).
"""
from __future__ import annotations

import logging
from importlib.metadata import entry_points

log = logging.getLogger(__name__)

GROUP = "hotline.plugins"


def plugins() -> list:
    found = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        found.append(ep.load())
    return found


def call_all(hook: str, *args) -> list:
    """Call ``hook`` on every plugin that has it; returns their results in plugin-name order."""
    results = []
    for plugin in plugins():
        fn = getattr(plugin, hook, None)
        if fn is not None:
            results.append(fn(*args))
    return results
