"""The notifier package's hooks into `hotline`, the web app and the worker (see journal_api/plugins.py)."""
from __future__ import annotations

import click


def commands(cli) -> None:
    """``hotline sms ...``: send a test message, print a Kannel configuration."""

    @cli.group("sms")
    def sms():
        """SMS: test sends and the Kannel configuration."""

    @sms.command("test")
    @click.option("--org", "org_code", required=True, help="organisation code")
    @click.option("--to", "to", required=True, help="phone number")
    @click.option("--text", default="Проверка СМС АДС.", help="message text")
    def test(org_code: str, to: str, text: str):
        """Queue one message through the organisation's provider (a worker sends it)."""
        import secrets

        import sqlalchemy as sa

        from journal_api.bootstrap import bootstrap
        from journal_api.domain.phones import normalize_phone
        from journal_api.storage import tables as t

        from .outbox import NewMessage
        from .service import Notifier
        from .templates import Rendered
        from .segments import count

        container = bootstrap()
        notifier = Notifier(container)
        with container.engine.connect() as conn:
            org_id = conn.execute(sa.select(t.organisations.c.id).where(t.organisations.c.code == org_code)).scalar()
        if org_id is None:
            raise click.UsageError(f"no organisation '{org_code}'")
        counted = count(text)
        provider = notifier.settings_for(org_id).provider
        ids = notifier.queue([NewMessage(org_id, None, normalize_phone(to), "dispatcher", None,
                                         Rendered("test", text, counted.encoding, counted.segments, ()), provider,
                                         f"test:{secrets.token_hex(6)}")])
        click.echo(f"queued message {ids[0]} via {provider}")

    @sms.command("kannel-conf")
    @click.option("--sendsms-port", default=13013, type=int)
    @click.option("--callback", default="", help="the web app's base URL as smsbox reaches it")
    def kannel_conf(sendsms_port: int, callback: str):
        """Print a kannel.conf (bearerbox + smsbox) that talks to this deployment's webhooks."""
        from journal_api.config import load_settings

        from .kannel_conf import KannelPorts, render
        from .settings import load_sms_settings

        s = load_sms_settings()
        base = callback or load_settings().effective_public_url
        click.echo(render(s, KannelPorts(sendsms=sendsms_port), base, smsc="smpp"))


def web(app, container) -> None:
    """The providers' webhooks; ProxyFix when the app sits behind proxies (``[sms] proxy_hops``)."""
    from .inbound import InboundService, find_extractor
    from .service import Notifier
    from .webhooks import bp

    notifier = Notifier(container)
    app.extensions["hotline.notifier"] = notifier
    app.extensions["hotline.sms_inbound"] = InboundService(notifier, find_extractor())
    if notifier.base.proxy_hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = notifier.base.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.register_blueprint(bp)


def worker(container) -> None:
    """Messages for the journal's events and the send jobs' notifier. No scheduler here: `hotline cron` enqueues
    the reminder wake-ups (see periodic) and the workers run them."""
    from journal_api.jobs import subscribe

    from .incident_sms import on_incident_closed
    from .jobs import handle_event
    from redis import Redis
    from rq import Queue

    from .runtime import set_notifier
    from .scheduler import BatchingEnqueuer
    from .service import Notifier, RQEnqueuer

    redis = Redis.from_url(container.settings.redis_url)
    queue = Queue(container.settings.queue_name, connection=redis)
    sends = BatchingEnqueuer(RQEnqueuer(queue), queue)
    set_notifier(Notifier(container, enqueuer=sends, redis=redis))
    subscribe("*", handle_event)
    subscribe("incident.closed", on_incident_closed)  # issue 8: one SMS per resident when an incident closes


WAKE_EVERY_SECONDS = 0.25  # reminders leave within about this of their moment (bench/sms.py measures it)
UPKEEP_EVERY_SECONDS = 5  # retries and leases are seconds to minutes apart


def periodic(container) -> list:
    """(every_seconds, callable) pairs that `hotline cron` enqueues: the reminders' and escalations' wake-ups
    (notifier.0), the messages' retries and stale claims (notifier.1); one Scheduler per process, on its notifier."""
    built: list = []

    def scheduler():
        if not built:
            from .runtime import get_notifier
            from .scheduler import BatchedEvents, CollectingPublisher, Scheduler, ladder_escalation

            collected = CollectingPublisher()
            built.append(Scheduler(get_notifier(), ladder_escalation(container, collected),
                                   escalation_publisher=collected, events=BatchedEvents(container)))
        return built[0]

    return [(WAKE_EVERY_SECONDS, lambda: scheduler().wake()), (UPKEEP_EVERY_SECONDS, lambda: scheduler().upkeep())]


def up(settings) -> list:
    """[(name, argv)] child processes for `hotline up`."""
    return []


def banner(settings) -> list:
    """Lines `hotline up` prints when it is ready."""
    from .settings import load_sms_settings

    s = load_sms_settings()
    return [f"SMS: provider {s.provider}" + (" (messages are stored and shown in the console)"
                                              if s.provider == "log" else "")]
