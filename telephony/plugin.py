"""The telephony package's hooks into `hotline`, the web app and the worker (see journal_api/plugins.py)."""
from __future__ import annotations


def commands(cli) -> None:
    """`hotline sip` (the supervisor), `hotline sip-password` (a softphone's credentials), `hotline call`,
    `hotline recordings purge` (retention)."""
    import click

    from . import caller

    @cli.command("sip")
    @click.option("--workers", type=int, help="worker processes (default [sip] workers / HOTLINE_SIP_WORKERS)")
    @click.option("--port", type=int, help="the public SIP port (default sip_port)")
    @click.pass_context
    def sip_cmd(ctx, workers, port):
        """Run the telephony workers (and Kamailio in front when there are several) until SIGTERM."""
        import os

        from journal_api.config import load_section, load_settings

        from .settings import SipSettings
        from .supervisor import run_supervisor

        config = (ctx.obj or {}).get("config")
        if config:  # the workers read the same file
            os.environ["HOTLINE_CONFIG"] = os.path.abspath(config)
        if port:
            os.environ["HOTLINE_SIP_PORT"] = str(port)
        try:
            settings = load_settings(config_file=config, sip_port=port)
            sip = load_section(SipSettings, "sip", config_file=config, workers=workers)
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"Cannot read the settings: {exc}") from None
        if sip.workers < 1 or sip.max_calls < 1 or sip.max_calls > 4:
            raise click.UsageError("[sip] workers must be at least 1 and max_calls between 1 and 4")
        raise SystemExit(run_supervisor(settings, sip))

    @cli.command("sip-password")
    @click.argument("staff_id", type=int)
    def sip_password(staff_id):
        """Print the SIP username and password of a staff member's softphone (registered at Kamailio)."""
        import sqlalchemy as sa

        from journal_api.bootstrap import bootstrap
        from journal_api.storage import tables as t

        from .kamailio import staff_password

        container = bootstrap()
        try:
            with container.engine.connect() as conn:
                row = conn.execute(sa.select(t.staff.c.org_id, t.staff.c.sip_account)
                                   .where(t.staff.c.id == staff_id)).one_or_none()
        finally:
            container.dispose()
        if row is None or not row.sip_account:
            raise click.UsageError(f"Staff member {staff_id} does not exist or has no sip_account.")
        password = staff_password(container.settings.effective_secret_key, row.org_id, row.sip_account)
        click.echo(f"{row.sip_account} {password}")

    caller.command(cli)
    _recordings_commands(cli)


def _recordings_commands(cli) -> None:
    """`hotline recordings purge`: the retention of stored recordings by hand (the scheduler runs it daily)."""
    import click

    @cli.group("recordings")
    def recordings_group():
        """Stored call recordings."""

    @recordings_group.command("purge")
    @click.option("--days", type=click.IntRange(min=1), help="the retention in days (default: [recordings] "
                  "retention_days / HOTLINE_RECORDINGS_RETENTION_DAYS)")
    @click.pass_context
    def recordings_purge(ctx, days):
        """Delete the audio of the recordings older than the retention; their rows stay, marked as purged."""
        from journal_api.bootstrap import bootstrap
        from journal_api.config import load_section, load_settings
        from journal_api.service.uow import MemoryPublisher
        from recordings.retention import RecordingSettings, purge_expired

        config = (ctx.obj or {}).get("config")
        try:
            settings = load_settings(config_file=config)
            days = days or load_section(RecordingSettings, "recordings", config_file=config).retention_days
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"Cannot read the settings: {exc}") from None
        if days <= 0:
            click.echo("[recordings] retention_days is 0: recordings are kept forever; nothing was deleted.")
            return
        container = bootstrap(settings, publisher=MemoryPublisher())
        try:
            purged = purge_expired(container, retention_days=days)
        finally:
            container.dispose()
        click.echo(f"{purged} recording(s) older than {days} days purged (audio deleted, rows kept).")


def web(app, container) -> None:
    """Register this package's blueprints."""
    from .twilio_voice import register as twilio_voice  # Twilio Voice (issue 8)
    twilio_voice(app, container)


def worker(container) -> None:
    """Subscribe this package's outbox handlers."""


def periodic(container) -> list:
    """(every_seconds, callable) pairs for the worker's loop."""
    return []


def up(settings) -> list:
    """[(name, argv)] child processes for `hotline up`: the SIP supervisor."""
    return [("sip", ["sip"])]


def banner(settings) -> list:
    """Lines `hotline up` prints when it is ready."""
    return [f"Hotline phone: sip:hotline@127.0.0.1:{settings.sip_port} (try: hotline call "
            f"sip:hotline@127.0.0.1:{settings.sip_port} --record-heard heard.wav)"]
